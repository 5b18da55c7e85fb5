"""Build a Lava process network from a quantized :class:`SpikingGraph`, run it, read it back.

One process per graph node and per synaptic edge (docs/lava_backend.md):

- the static input edge becomes a :class:`StaticInputEncoder` driving the first neuron's
  ``a_in`` directly (delay 0), fed the same integer current as the reference, for the
  first ``T`` steps of a frame;
- each neuron node an :class:`MTNeuron` (graded form), an :class:`MTCascadeNeuron`
  (binary cascade of N threshold stages) or an :class:`MTVirtualNeuron` (``2^N - 1``
  binary virtual sub-steps per step, thermometer-coded) adding its bias in its window
  ``[start, start + T)``;
- each other edge a synapse process (conv, avg-pool, transposed conv) with the edge's
  mantissa, exponent and delay; a concat is two synapses into one ``a_in``;
- the readout a :class:`Readout` accumulating over ``[start, start + T)``.

Frames run back to back in one Lava run (every process resets at a frame start).
Spike histories and the readout come back through memory-mapped probe files, because
Lava's ``Var.get`` moves one value per message.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

import lava_spikingunet  # noqa: F401  (Lava compat hook before any lava import)
from lava_spikingunet.graph.dispatch import EdgeTable
from lava_spikingunet.graph.ir import (
    NEURON_FORMS,
    AvgPoolEdge,
    ConvEdge,
    ConvTransposeEdge,
    NeuronForm,
    NeuronNode,
    SpikingGraph,
    check_neuron_form,
)
from lava_spikingunet.graph.timing import frame_steps, start_steps

__all__ = ["NEURON_FORMS", "LavaResult", "NeuronForm", "build", "run_lava"]


@dataclass
class LavaResult:
    """What a Lava run gives back.

    ``acc``: readout accumulator per frame ``(F, C, H, W)`` int64; ``spikes[n]``: uint8
    spike counts ``k`` of node ``n`` at every step ``(F * frame_len, C, H, W)`` (for the
    cascade form recombined from the stages' bits; the virtual form's neurons record ``k``,
    the number of sub-steps they fired on); ``stage_spikes[n]``: the cascade's binary
    spikes ``(N, steps, C, H, W)``.
    """

    acc: np.ndarray
    frame_len: int
    timesteps: int
    form: str
    wall_s: float
    spikes: dict[str, np.ndarray] = field(default_factory=dict)
    stage_spikes: dict[str, np.ndarray] = field(default_factory=dict)

    def output(self, scale: float) -> np.ndarray:
        """Float output ``y = acc / (T * scale)``."""
        return self.acc / (self.timesteps * scale)


def _conv_synapse(e: ConvEdge, common: dict):
    from lava_spikingunet.backends.lava import synapses

    return synapses.ConvSynapse(weight=e.mant, stride=e.stride, padding=e.padding, **common)


def _pool_synapse(e: AvgPoolEdge, common: dict):
    from lava_spikingunet.backends.lava import synapses

    return synapses.AvgPoolSynapse(weight=int(e.mant), kernel=e.kernel, **common)


def _convt_synapse(e: ConvTransposeEdge, common: dict):
    from lava_spikingunet.backends.lava import synapses

    return synapses.ConvTransposeSynapse(
        weight=e.mant,
        stride=e.stride,
        padding=e.padding,
        output_padding=e.output_padding,
        **common,
    )


#: The Lava synapse process built for each edge type (the one place a new edge type
#: is taught to this backend).
SYNAPSE_BUILDERS = EdgeTable(
    "lava", {ConvEdge: _conv_synapse, AvgPoolEdge: _pool_synapse, ConvTransposeEdge: _convt_synapse}
)


@dataclass
class _Built:
    root: object  # the readout: running it runs the whole connected network
    procs: list
    probes: dict[str, str]
    n_thresholds: dict[str, int]


def _state_bits(graph: SpikingGraph) -> int:
    from lava_spikingunet.fixed_point.quantize import graph_format

    return graph_format(graph).state_bits


def build(
    graph: SpikingGraph,
    current: np.ndarray,
    form: NeuronForm = "graded",
    record: Iterable[str] = (),
    *,
    probe_dir: str,
) -> _Built:
    """Create (but do not run) the Lava processes for ``graph`` fed ``current`` ``(F,C,H,W)``.

    Probe files go to ``probe_dir``, which the caller owns (and removes).
    """
    from lava_spikingunet.backends.lava import io as lio
    from lava_spikingunet.backends.lava import neurons, synapses

    check_neuron_form(form)
    if not graph.is_quantized:
        raise ValueError("the Lava backend runs quantized graphs only (run quantize first)")
    graph.validate()
    from lava_spikingunet.limits import check_lava_supported

    check_lava_supported(graph)
    current = np.asarray(current, dtype=np.int64)
    if current.ndim == 3:
        current = current[None]
    n_frames = current.shape[0]
    frame_len = frame_steps(graph)
    timesteps = int(graph.meta.timesteps)
    total = n_frames * frame_len
    start = start_steps(graph)
    bits = _state_bits(graph)
    record = set(record)

    def probe(path: str, dtype, shape: tuple[int, ...], length: int) -> str:
        np.memmap(path, dtype=dtype, mode="w+", shape=(length, *shape)).flush()
        return path

    def probe_file(name: str) -> str:
        return os.path.join(probe_dir, f"{len(probes)}-{name.replace('/', '_')}.bin")

    procs: dict[str, object] = {}
    probes: dict[str, str] = {}
    n_thr: dict[str, int] = {}
    all_procs: list = []
    static_target = None
    for _src, dst, e in graph.edges():
        if getattr(e, "static", False):
            static_target = dst
    for name in graph.order():
        node = graph.node(name)
        if not isinstance(node, NeuronNode):
            continue
        bias = np.zeros(node.shape[0], dtype=np.int64) if name == static_target else node.bias_int
        path = None
        if name in record:
            path = probe_file(name)
            if form != "cascade":  # graded and virtual neurons record k
                probe(path, np.uint8, node.shape, total)
            else:
                for i in range(node.n_thresholds):
                    probe(neurons.stage_probe_path(path, i), np.uint8, node.shape, total)
            probes[name] = path
        cls = {
            "graded": neurons.MTNeuron,
            "cascade": neurons.MTCascadeNeuron,
            "virtual": neurons.MTVirtualNeuron,
        }[form]
        procs[name] = cls(
            shape=node.shape,
            theta_unit_int=node.theta_unit_int,
            n_thresholds=node.n_thresholds,
            bias=bias,
            start=start[name],
            steps=timesteps,
            v_bits=bits,
            frame_len=frame_len,
            probe_path=path,
            probe_len=total if path else 0,
            name=name,
        )
        n_thr[name] = node.n_thresholds
        all_procs.append(procs[name])

    ro_name = graph.readout_name
    ro = graph.node(ro_name)
    acc_path = probe(probe_file("readout"), np.int64, ro.shape, n_frames)
    probes["__readout__"] = acc_path
    readout = lio.Readout(
        shape=ro.shape,
        steps=timesteps,
        bias=ro.bias_int,
        start=start[ro_name],
        acc_bits=bits,
        frame_len=frame_len,
        probe_path=acc_path,
        probe_len=n_frames,
        name=ro_name,
    )
    procs[ro_name] = readout
    all_procs.append(readout)

    for src, dst, e in graph.edges():
        if getattr(e, "static", False):
            if current.shape[1:] != graph.node(dst).shape:
                raise ValueError(
                    f"input current {current.shape[1:]} does not fit {dst} {graph.node(dst).shape}"
                )
            enc = lio.StaticInputEncoder(
                current=current, steps=timesteps, frame_len=frame_len, name="encoder"
            )
            enc.a_out.connect(procs[dst].a_in)
            all_procs.append(enc)
            continue
        in_shape = graph.node(src).shape
        common = dict(
            in_shape=in_shape,
            weight_exp=int(e.exp),
            delay=int(e.delay),
            n_stage_inputs=n_thr[src] if form == "cascade" else 0,
            virtual_substeps=neurons.virtual_substeps(n_thr[src]) if form == "virtual" else 0,
            frame_len=frame_len,
            name=f"{src}->{dst}",
        )
        syn = SYNAPSE_BUILDERS[e](e, common)
        if e.delay < 1:
            raise ValueError(f"edge {src}->{dst}: Lava synapses need delay >= 1, got {e.delay}")
        synapses.connect_source(procs[src], syn)
        syn.a_out.connect(procs[dst].a_in)
        all_procs.append(syn)
    return _Built(readout, all_procs, probes, n_thr)


def _compile(root, run_cfg, channel_depth: int):
    """Lava's compile, with bytecode caching on while it runs.

    Lava's model discovery executes every module of a process's folder once per process
    (49 times for a depth-3 U-Net). Without cached bytecode (``PYTHONDONTWRITEBYTECODE``)
    each is compiled from source every time: 9.5 s instead of 1.9 s for the shipped
    denoiser's network. The caches are written once, next to the sources.
    """
    import sys

    from lava_spikingunet.backends.lava.channels import compile_config

    old = sys.dont_write_bytecode
    sys.dont_write_bytecode = False
    try:
        return root.compile(run_cfg, compile_config(channel_depth))
    finally:
        sys.dont_write_bytecode = old


def run_lava(
    graph: SpikingGraph,
    current: np.ndarray,
    form: NeuronForm = "graded",
    record: Iterable[str] | bool = False,
    timeout: float = 60.0,
    *,
    run_cfg: object | None = None,
    channel_depth: int | None = None,
    on_compiled: Callable[[object], None] | None = None,
) -> LavaResult:
    """Run ``graph`` on Lava's CPU simulator (``Loihi2SimCfg(select_tag="fixed_pt")``).

    ``current``: the static input current ``I0_int`` ``(F, C, H, W)`` or ``(C, H, W)``
    (:func:`lava_spikingunet.reference.input_current.input_current`). ``record``: node
    names whose spikes to bring back, or True for every neuron node. The run is always
    stopped, and its worker processes released, even when it fails. ``run_cfg``: another
    Lava run config (e.g. ``Loihi2HwCfg`` on a board; default the CPU simulator's).

    Every data channel is a ring of ``channel_depth`` messages (default
    :data:`~lava_spikingunet.backends.lava.channels.DATA_CHANNEL_DEPTH`, the minimum the
    timing allows; Lava's own default is 64). ``on_compiled(executable)`` is called
    before the workers start (tests read the channels back with
    :func:`~lava_spikingunet.backends.lava.channels.channel_report`).
    """
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    from lava_spikingunet.backends.lava.channels import DATA_CHANNEL_DEPTH, set_channel_depths

    channel_depth = DATA_CHANNEL_DEPTH if channel_depth is None else int(channel_depth)

    from lava_spikingunet.backends.lava.neurons import stage_probe_path
    from lava_spikingunet.backends.lava.runner import lava_session, probe_dir

    names = graph.neurons() if record is True else list(record or ())
    current = np.asarray(current, dtype=np.int64)
    if current.ndim == 3:
        current = current[None]
    n_frames, frame_len = current.shape[0], frame_steps(graph)
    with probe_dir() as probes_at:
        built = build(graph, current, form, names, probe_dir=probes_at)
        t0 = time.perf_counter()
        with lava_session(built.root, timeout=timeout):
            executable = _compile(
                built.root, run_cfg or Loihi2SimCfg(select_tag="fixed_pt"), channel_depth
            )
            set_channel_depths(executable, channel_depth)
            if on_compiled is not None:
                on_compiled(executable)
            built.root.create_runtime(executable=executable)
            built.root.run(condition=RunSteps(num_steps=n_frames * frame_len))
        wall = time.perf_counter() - t0
        ro = graph.node(graph.readout_name)
        acc = np.array(
            np.memmap(
                built.probes["__readout__"], dtype=np.int64, mode="r", shape=(n_frames, *ro.shape)
            )
        )
        total = n_frames * frame_len
        spikes: dict[str, np.ndarray] = {}
        stages: dict[str, np.ndarray] = {}
        for n in names:
            shape = (total, *graph.node(n).shape)
            if form != "cascade":
                spikes[n] = np.array(np.memmap(built.probes[n], np.uint8, "r", shape=shape))
            else:
                nt = built.n_thresholds[n]
                bits = np.stack(
                    [
                        np.array(
                            np.memmap(
                                stage_probe_path(built.probes[n], i), np.uint8, "r", shape=shape
                            )
                        )
                        for i in range(nt)
                    ]
                )
                stages[n] = bits
                weights = (1 << np.arange(nt - 1, -1, -1)).reshape(-1, *([1] * len(shape)))
                spikes[n] = (bits.astype(np.int32) * weights).sum(0).astype(np.uint8)
    return LavaResult(acc, frame_len, graph.meta.timesteps, form, wall, spikes, stages)
