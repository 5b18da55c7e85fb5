"""What ``verify``, ``profile`` and ``deploy`` do with a model in the ``sdnn`` form.

Library code for the commands (the ``--form sdnn`` branches): each takes an ``sdnn``
graph (:func:`load_sdnn_model`) and frames, and returns plain data the command prints.

- :func:`verify_sdnn`: Lava (stock processes, ``Loihi2SimCfg`` fixed_pt) against the
  sigma-delta reference, every neuron's messages at every step and the readout.
- :func:`profile_sdnn`: synops of the graded deltas (messages x structural fan-out),
  per frame and per ANN MAC, and the neurocores of the mapping model.
- :func:`sdnn_problems` / :func:`deploy_sdnn`: the form's fields against the hardware
  profile, then the run on ``Loihi2HwCfg`` when Intel's lava-loihi is installed, else
  :class:`~lava_spikingunet.errors.HardwareUnavailableError` with the deploy command's
  message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lava_spikingunet.graph.ir import NeuronNode, ReadoutNode, SpikingGraph

__all__ = [
    "deploy_sdnn",
    "frames_current",
    "load_sdnn_model",
    "profile_sdnn",
    "sdnn_problems",
    "verify_sdnn",
]


def load_sdnn_model(path: str | Path, *, ilif_vth: int = 1) -> SpikingGraph:
    """An ``sdnn`` graph from an sdnn netx file (:mod:`.netx`), an ``sdnn`` graph file, or
    any quantized model the commands read, converted: an I-LIF graph by
    :func:`~.convert.ilif_to_sdnn` (``vth = ilif_vth`` message units), any other by
    :func:`~.convert.to_sdnn`."""
    from lava_spikingunet.backends.sdnn.convert import ilif_to_sdnn, is_ilif_graph, is_sdnn, to_sdnn

    path = Path(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as f:
            fmt = f["spikingunet"].attrs.get("format") if "spikingunet" in f else None
        from lava_spikingunet.backends.sdnn.netx import FORMAT, load_sdnn_netx

        if fmt == FORMAT:
            return load_sdnn_netx(path)
    from lava_spikingunet.model_io import load_model

    graph = load_model(path)
    if is_sdnn(graph):
        return graph
    return ilif_to_sdnn(graph, vth=ilif_vth) if is_ilif_graph(graph) else to_sdnn(graph)


def frames_current(graph: SpikingGraph, frames: np.ndarray) -> tuple[SpikingGraph, np.ndarray]:
    """``(graph resized to the frames, I0 (F, 1, C, H, W))`` for frames ``(F, C, H, W)`` (or
    one ``(C, H, W)``), whose sides must divide by the size multiple."""
    from lava_spikingunet.reference.input_current import input_current

    x = np.asarray(frames, dtype=np.float64)
    if x.ndim == 3:
        x = x[None]
    g = graph.resized(*x.shape[2:])
    return g, np.stack([input_current(g, f[None]) for f in x])


def verify_sdnn(
    graph: SpikingGraph,
    frames: np.ndarray,
    *,
    vth: int | dict[str, int] | None = None,
    hold: int | None = None,
    timeout: float = 300.0,
    rest: bool = True,
) -> dict[str, Any]:
    """Lava == the reference on ``frames`` (a stream, each held ``hold`` steps, default the
    settle steps; from the resting state, or with ``rest=False`` from reset): mismatching
    values per neuron (all steps, the rest included) and of the readout."""
    from lava_spikingunet.backends.sdnn.network import run_sdnn
    from lava_spikingunet.reference.sigma_delta import simulate_sdnn

    g, cur = frames_current(graph, frames)
    ref = simulate_sdnn(g, cur, hold, vth=vth, record=True, count_synops=False, rest=rest)
    res = run_sdnn(g, cur, ref.hold, vth=vth, record=True, timeout=timeout, rest=rest)
    layers = {
        n: int(np.count_nonzero(res.messages[n] != ref.messages[n][:, 0])) for n in g.neurons()
    }
    readout = int(np.count_nonzero(res.readout_steps != ref.readout_steps[:, 0]))
    return {
        "frames": int(cur.shape[0]),
        "frame": list(cur.shape[-2:]),
        "steps": int(ref.steps),
        "rest_steps": int(ref.rest_steps),
        "layers": layers,
        "readout": readout,
        "mismatches": sum(layers.values()) + readout,
        "messages": int(ref.msg_count.sum()),
    }


def profile_sdnn(
    graph: SpikingGraph,
    frames: np.ndarray,
    hw: Any = "loihi2",
    *,
    vth: int | dict[str, int] | None = None,
    hold: int | None = None,
) -> dict[str, Any]:
    """Synops of the graded deltas on ``frames`` (a stream) and the neurocores.

    A synop is one message delivered to one synapse (its structural fan-out,
    docs/profiling.md); per frame over its ``hold`` steps, and per dense ANN MAC of the
    same frame. The frames start from the resting state (docs/semantics.md section 6);
    ``rest`` gives what settling there costs once, ``from_reset`` the same frames from a
    reset network (bias-driven changes included). Cores: the graded-form mapping model
    (one compartment per neuron, the same synapses) of ``hw``.
    """
    from lava_spikingunet.hw.mapping import map_graph
    from lava_spikingunet.hw.profiles import load_profile
    from lava_spikingunet.profiling.synops import edge_macs
    from lava_spikingunet.reference.sigma_delta import simulate_sdnn

    profile = load_profile(hw) if isinstance(hw, str | Path) else hw
    g, cur = frames_current(graph, frames)
    res = simulate_sdnn(g, cur, hold, vth=vth, rest=True)
    reset = simulate_sdnn(g, cur, hold, vth=vth)
    n = int(cur.shape[0])
    per_frame = res.synops[: n * res.hold].reshape(n, res.hold).sum(axis=1)
    per_frame_reset = reset.synops[: n * res.hold].reshape(n, res.hold).sum(axis=1)
    macs = int(sum(edge_macs(e, g.node(s).shape) for s, _, e in g.edges()))
    mapping = map_graph(g, profile, "graded")
    summary = mapping.summary()
    return {
        "frames": n,
        "frame": list(cur.shape[-2:]),
        "hold": int(res.hold),
        "synops_per_frame": [int(v) for v in per_frame],
        "messages_per_frame": [
            int(v) for v in res.msg_count[: n * res.hold].reshape(n, res.hold).sum(axis=1)
        ],
        "ann_macs_per_frame": macs,
        "synops_per_mac": [float(v / macs) for v in per_frame],
        "start": "rest",
        "rest": {
            "steps": int(res.rest_steps),
            "synops": int(res.rest_synops),
            "synops_per_mac": float(res.rest_synops / macs),
        },
        "from_reset": {
            "synops_per_frame": [int(v) for v in per_frame_reset],
            "synops_per_mac": [float(v / macs) for v in per_frame_reset],
        },
        "layers": {
            k: {
                "messages": v.messages,
                "max_abs_msg": v.max_abs_msg,
                "max_abs_sigma": v.max_abs_sigma,
            }
            for k, v in res.stats.items()
        },  # fmt: skip
        "cores": int(summary["cores"]),
        "chips": int(summary["chips"]),
        "profile": profile.name,
    }


def sdnn_problems(graph: SpikingGraph, hw: Any = "loihi2") -> list[str]:
    """Every way the ``sdnn`` graph breaks the profile's formats (empty if none): weight
    mantissas and exponents, delays, biases (mantissa << exponent), ``state_exp`` (a
    3-bit field), ``vth << state_exp`` and the states (the
    profile's state width), graded payload."""
    from lava_spikingunet.hw.profiles import load_profile

    profile = load_profile(hw) if isinstance(hw, str | Path) else hw
    info = graph.meta.extra.get("sdnn")
    if not info:
        return ["the model is not in the sdnn form"]
    out: list[str] = []
    m_lo, m_hi = profile.weight_mant_range
    e_lo, e_hi = profile.weight_exp_range
    s_hi = profile.state_range[1]
    for s, d, e in graph.edges():
        if e.delay > profile.max_delay:
            out.append(f"edge {s}->{d}: delay {e.delay} > max delay {profile.max_delay}")
        if getattr(e, "static", False):
            continue
        m = np.asarray(e.mant)
        if m.size and (m.min() < m_lo or m.max() > m_hi):
            out.append(f"edge {s}->{d}: mantissas outside [{m_lo}, {m_hi}]")
        if not e_lo <= int(e.exp) <= e_hi:
            out.append(f"edge {s}->{d}: exponent {e.exp} outside [{e_lo}, {e_hi}]")
    for n in graph.order():
        node = graph.node(n)
        if not isinstance(node, NeuronNode | ReadoutNode):
            continue
        bad = [int(b) for b in np.asarray(node.bias_int).reshape(-1) if not _bias_fits(b, profile)]
        if bad:
            out.append(f"layer {n}: bias {bad[0]} is not a mantissa << exponent of the profile")
        if isinstance(node, NeuronNode):
            st, vth = int(info["nodes"][n]["state_exp"]), int(info["nodes"][n]["vth"])
            if not 0 <= st <= 7:
                out.append(f"layer {n}: state_exp {st} outside the 3-bit field 0..7")
            if vth << st > s_hi:
                out.append(f"layer {n}: vth {vth} << {st} exceeds the state's {s_hi}")
    if profile.spikes.graded_payload_bits <= 1:
        out.append(f"profile {profile.name!r} has no graded spikes: the sdnn form needs them")
    return out


def _bias_fits(value: int, profile: Any) -> bool:
    """``value = mant << e`` with the profile's bias mantissa and exponent."""
    lo, hi = profile.bias_mant_range
    e_lo, e_hi = max(0, profile.neuron.bias_exp_min), max(0, profile.neuron.bias_exp_max)
    v = int(value)
    return any(v % (1 << e) == 0 and lo <= v >> e <= hi for e in range(e_lo, e_hi + 1))


def deploy_sdnn(
    graph: SpikingGraph,
    frames: np.ndarray,
    hw: Any = "loihi2",
    *,
    vth: int | dict[str, int] | None = None,
    model: str = "MODEL.h5",
) -> np.ndarray:
    """Check the ``sdnn`` graph against ``hw``, then run ``frames`` as a stream on the
    Loihi board (``Loihi2HwCfg``, the stock processes on neurocores), from the resting
    state; returns the readout ``y`` per frame ``(F, C, H, W)``. Raises UserError naming
    every field that does not fit, and HardwareUnavailableError without lava-loihi (after
    the checks)."""
    from lava_spikingunet.backends.sdnn.network import run_sdnn
    from lava_spikingunet.errors import HardwareUnavailableError, LavaRunError, UserError
    from lava_spikingunet.pipeline.deploy import (
        NOT_INSTALLED,
        hw_run_config,
        lava_loihi_available,
    )

    problems = sdnn_problems(graph, hw)
    if problems:
        listing = "\n  ".join(problems)
        raise UserError(f"the sdnn model does not fit {hw}:\n  {listing}")
    if not lava_loihi_available():
        raise HardwareUnavailableError(NOT_INSTALLED.format(model=model))
    g, cur = frames_current(graph, frames)
    name = hw if isinstance(hw, str) else hw.name
    try:
        res = run_sdnn(g, cur, vth=vth, record=False, run_cfg=hw_run_config(name), rest=True)
    except Exception as exc:  # noqa: BLE001 - report the board's failure, not a traceback
        raise LavaRunError(f"the sdnn run on {name} failed: {type(exc).__name__}: {exc}") from exc
    return res.readout / float(g.node(g.readout_name).scale)
