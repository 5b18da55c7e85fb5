"""Lava processes vs a plain numpy simulation of docs/semantics.md, bit for bit.

Every network runs under ``Loihi2SimCfg(select_tag="fixed_pt")`` inside
``lava_session`` (a guaranteed, watchdog-protected ``stop()``). Shapes are tiny: reading a
Var costs ~17 us per value. The edge ops of the reference are the numpy ops checked
against PyTorch in test_numpy_ops.py; timing, shifts, saturation and neuron dynamics
are re-implemented here independently of the process models.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

import lava_spikingunet  # noqa: F401  (installs the Lava compat hook first)
from lava_spikingunet.backends.lava import (
    AvgPoolSynapse,
    ConvSynapse,
    ConvTransposeSynapse,
    MTCascadeNeuron,
    MTNeuron,
    Readout,
    StaticInputEncoder,
    connect_source,
    frame_step,
)
from lava_spikingunet.backends.lava import numpy_ops as ops
from lava_spikingunet.backends.lava.runner import lava_session

pytestmark = pytest.mark.lava


def _cfg(tag: str = "fixed_pt"):
    from lava.magma.core.run_configs import Loihi2SimCfg

    return Loihi2SimCfg(select_tag=tag)


def _run(proc, steps: int, tag: str = "fixed_pt") -> None:
    from lava.magma.core.run_conditions import RunSteps

    proc.run(condition=RunSteps(num_steps=steps), run_cfg=_cfg(tag))


def _get(var) -> np.ndarray:
    return np.asarray(var.get()).astype(np.int64)


# ------------------------------------------------------------------ numpy reference model


@dataclass
class RNeuron:
    shape: tuple[int, int, int]
    n: int
    theta: int
    bias: np.ndarray  # per channel
    start: int
    bits: int = 24
    steps: int = 0  # bias window [start, start + steps); 0: no upper limit


@dataclass
class RReadout:
    shape: tuple[int, int, int]
    bias: np.ndarray
    start: int
    steps: int
    bits: int = 24


@dataclass
class REdge:
    src: str
    dst: str
    op: Callable[[np.ndarray], np.ndarray]  # k -> integer sum before the shift
    exp: int
    delay: int


@dataclass
class RefResult:
    k: dict[str, np.ndarray] = field(default_factory=dict)  # (T, *shape) per neuron
    v: dict[str, np.ndarray] = field(default_factory=dict)  # final membrane
    acc: dict[str, np.ndarray] = field(default_factory=dict)


def ref_shift(x: np.ndarray, e: int) -> np.ndarray:
    return x * (1 << e) if e >= 0 else np.floor_divide(x, 1 << -e)


def ref_simulate(
    neurons: dict[str, RNeuron],
    readouts: dict[str, RReadout],
    edges: list[REdge],
    static: dict[str, np.ndarray],
    steps: int,
    input_steps: int = 0,
) -> RefResult:
    """Semantics of docs/semantics.md sections 1, 3, 4 (delays >= 1 on synaptic edges).

    The static current is injected at steps ``t < input_steps`` (0: every step); neuron
    ``n`` adds its bias at ``start <= t < start + steps`` (``steps`` 0: ``t >= start``).
    """
    k = {n: np.zeros((steps, *p.shape), np.int64) for n, p in neurons.items()}
    v = {n: np.zeros(p.shape, np.int64) for n, p in neurons.items()}
    acc = {n: np.zeros(p.shape, np.int64) for n, p in readouts.items()}
    for t in range(steps):
        cur = {n: np.zeros(p.shape, np.int64) for n, p in {**neurons, **readouts}.items()}
        for n, i0 in static.items():
            if input_steps == 0 or t < input_steps:
                cur[n] += i0
        for e in edges:
            if t - e.delay >= 0:
                cur[e.dst] += ref_shift(e.op(k[e.src][t - e.delay]), e.exp)
        for n, p in neurons.items():
            on = p.start <= t and (p.steps == 0 or t < p.start + p.steps)
            b = p.bias.reshape(-1, 1, 1) if on else 0
            lo, hi = -(2 ** (p.bits - 1)), 2 ** (p.bits - 1) - 1
            v[n] = np.clip(v[n] + cur[n] + b, lo, hi)
            k[n][t] = np.clip(v[n] // p.theta, 0, 2**p.n - 1)
            v[n] -= k[n][t] * p.theta
        for n, p in readouts.items():
            if p.start <= t < p.start + p.steps:
                lo, hi = -(2 ** (p.bits - 1)), 2 ** (p.bits - 1) - 1
                acc[n] = np.clip(acc[n] + cur[n] + p.bias.reshape(-1, 1, 1), lo, hi)
    return RefResult(k=k, v=v, acc=acc)


# ------------------------------------------------------------------------- test networks


def _neuron(cascade: bool, p: RNeuron, steps: int, frame_len: int = 0):
    cls = MTCascadeNeuron if cascade else MTNeuron
    return cls(
        shape=p.shape,
        n_thresholds=p.n,
        theta_unit_int=p.theta,
        bias=p.bias,
        start=p.start,
        steps=p.steps,
        v_bits=p.bits,
        frame_len=frame_len,
        record_steps=steps,
    )


def _spikes(proc, steps: int) -> np.ndarray:
    """k per step from a neuron's history Var(s); a cascade's stage bits are recombined."""
    if isinstance(proc, MTNeuron):
        return _get(proc.spikes)[:steps]
    n = proc.proc_params["n_thresholds"]
    return sum(_get(getattr(proc, f"spikes_{i}"))[:steps] << (n - 1 - i) for i in range(n))


#: T of the chain network: the encoder sends for 6 steps, each window is 6 steps long.
CHAIN_T = 6


def chain_network(seed: int = 0, exp1: int = -2, bits2: int = 9):
    """input -> n1 -(conv3x3, d=1)-> n2 -(conv1x1, d=1)-> readout; T = 6."""
    rng = np.random.default_rng(seed)
    i0 = rng.integers(-10, 140, size=(2, 5, 5))
    w1 = rng.integers(-60, 61, size=(3, 2, 3, 3))
    w2 = rng.integers(-20, 21, size=(2, 3, 1, 1))
    T = CHAIN_T
    neurons = {
        "n1": RNeuron((2, 5, 5), n=3, theta=16, bias=np.array([3, -5]), start=0, steps=T),
        "n2": RNeuron(
            (3, 5, 5), n=2, theta=8, bias=np.array([1, 0, -2]), start=1, bits=bits2, steps=T
        ),
    }
    readouts = {"out": RReadout((2, 5, 5), bias=np.array([5, -3]), start=2, steps=T, bits=12)}
    edges = [
        REdge("n1", "n2", lambda k: ops.conv2d(k, w1, 1, 1), exp1, 1),
        REdge("n2", "out", lambda k: ops.conv2d(k, w2), 0, 1),
    ]
    return i0, w1, w2, neurons, readouts, edges


def build_chain(cascade: bool, steps: int, exp1: int = -2, bits2: int = 9):
    i0, w1, w2, neurons, readouts, edges = chain_network(exp1=exp1, bits2=bits2)
    enc = StaticInputEncoder(current=i0, steps=CHAIN_T)
    n1 = _neuron(cascade, neurons["n1"], steps)
    n2 = _neuron(cascade, neurons["n2"], steps)
    stages = (lambda p: p.n) if cascade else (lambda p: 0)
    s1 = ConvSynapse(
        weight=w1,
        in_shape=(2, 5, 5),
        weight_exp=exp1,
        padding=1,
        n_stage_inputs=stages(neurons["n1"]),
    )
    s2 = ConvSynapse(weight=w2, in_shape=(3, 5, 5), n_stage_inputs=stages(neurons["n2"]))
    r = readouts["out"]
    out = Readout(shape=r.shape, bias=r.bias, start=r.start, steps=r.steps, acc_bits=r.bits)
    enc.a_out.connect(n1.a_in)
    connect_source(n1, s1)
    s1.a_out.connect(n2.a_in)
    connect_source(n2, s2)
    s2.a_out.connect(out.a_in)
    ref = ref_simulate(neurons, readouts, edges, {"n1": i0}, steps, input_steps=CHAIN_T)
    return (n1, n2, out), ref


def _ungated(neurons: dict[str, RNeuron]) -> dict[str, RNeuron]:
    """The same neurons with the bias on at every step from ``start`` (no window end)."""
    return {n: RNeuron(**{**p.__dict__, "steps": 0}) for n, p in neurons.items()}


@pytest.mark.parametrize("cascade", [False, True], ids=["graded", "cascade"])
def test_chain_matches_reference(cascade, no_leftover_processes) -> None:
    steps = 8  # two steps past n1's window: input and bias are off there
    (n1, n2, out), ref = build_chain(cascade, steps)
    assert ref.k["n2"].max() == 3 and ref.k["n1"].max() == 7, "test should saturate k"
    i0, _, _, neurons, readouts, edges = chain_network()
    old = ref_simulate(_ungated(neurons), readouts, edges, {"n1": i0}, steps)
    for n in neurons:  # the window rule matters here, and only after the windows
        p = neurons[n]
        assert not np.array_equal(old.k[n][p.start + p.steps :], ref.k[n][p.start + p.steps :])
        np.testing.assert_array_equal(old.k[n][: p.start + p.steps], ref.k[n][: p.start + p.steps])
    np.testing.assert_array_equal(old.acc["out"], ref.acc["out"])
    with lava_session(n1):
        _run(n1, steps)
        got = {"n1": _spikes(n1, steps), "n2": _spikes(n2, steps)}
        v1, v2, acc = _get(n1.v), _get(n2.v), _get(out.acc)
    for name in ("n1", "n2"):
        np.testing.assert_array_equal(got[name], ref.k[name], err_msg=name)
    np.testing.assert_array_equal(v1, ref.v["n1"])
    np.testing.assert_array_equal(v2, ref.v["n2"])
    np.testing.assert_array_equal(acc, ref.acc["out"])
    assert np.abs(acc).max() > 0


def test_saturation_is_exercised() -> None:
    """The chain network's n2 hits both bounds of its 9-bit membrane (hi, then fires k=3)."""
    _, _, _, neurons, readouts, edges = chain_network()
    i0 = chain_network()[0]
    lo, hi = -256, 255
    wide = {**neurons, "n2": RNeuron(**{**neurons["n2"].__dict__, "bits": 24})}
    narrow_ref = ref_simulate(neurons, readouts, edges, {"n1": i0}, 8, CHAIN_T)
    wide_ref = ref_simulate(wide, readouts, edges, {"n1": i0}, 8, CHAIN_T)
    v = narrow_ref.v["n2"]
    assert not np.array_equal(v, wide_ref.v["n2"])
    assert v.min() >= lo and v.max() <= hi and (v == lo).any() and (v == hi - 3 * 8).any()


@pytest.mark.parametrize("cascade", [False, True], ids=["graded", "cascade"])
def test_floating_pt_models_match_when_exact(cascade, no_leftover_processes) -> None:
    """With exp >= 0 and no saturation the float models compute the same integers."""
    steps = 6
    (n1, n2, out), ref = build_chain(cascade, steps, exp1=0, bits2=40)
    with lava_session(n1):
        _run(n1, steps, tag="floating_pt")
        k2, acc = _spikes(n2, steps), _get(out.acc)
    np.testing.assert_array_equal(k2, ref.k["n2"])
    np.testing.assert_array_equal(acc, ref.acc["out"])


def test_delays_pool_convT_skip_and_frames(no_leftover_processes) -> None:
    """n1 -(avgpool, d=3)-> n2 -(convT, d=1)-> n3 <-(conv skip, d=4)- n1; n3 -> readout.

    Two frames back to back (``frame_len``): every process resets at the frame start, and
    the input and bias windows (T = 4) restart with every frame.
    """
    rng = np.random.default_rng(1)
    frame_len, frames, T = 9, 2, 4
    i0 = rng.integers(0, 70, size=(frames, 2, 4, 4))
    w_ct = rng.integers(-40, 41, size=(2, 3, 3, 3))
    w_skip = rng.integers(-30, 31, size=(3, 2, 3, 3))
    w_out = rng.integers(-9, 10, size=(1, 3, 1, 1))
    neurons = {
        "n1": RNeuron((2, 4, 4), n=2, theta=8, bias=np.array([2, 1]), start=0, steps=T),
        "n2": RNeuron((2, 2, 2), n=4, theta=4, bias=np.array([-1, 3]), start=3, steps=T),
        "n3": RNeuron((3, 4, 4), n=3, theta=16, bias=np.array([0, 7, -4]), start=4, steps=T),
    }
    readouts = {"out": RReadout((1, 4, 4), bias=np.array([11]), start=5, steps=T)}
    edges = [
        REdge("n1", "n2", lambda k: ops.avgpool2d(k, 5), -1, 3),
        REdge("n2", "n3", lambda k: ops.conv_transpose2d(k, w_ct), -2, 1),
        REdge("n1", "n3", lambda k: ops.conv2d(k, w_skip, 1, 1), -3, 4),
        REdge("n3", "out", lambda k: ops.conv2d(k, w_out), 0, 1),
    ]
    refs = [ref_simulate(neurons, readouts, edges, {"n1": i0[f]}, frame_len, T) for f in range(2)]
    old = ref_simulate(_ungated(neurons), readouts, edges, {"n1": i0[1]}, frame_len)
    assert not all(np.array_equal(old.k[n], refs[1].k[n]) for n in neurons)

    enc = StaticInputEncoder(current=i0, steps=T, frame_len=frame_len)
    procs = {n: _neuron(False, p, frame_len, frame_len) for n, p in neurons.items()}
    pool = AvgPoolSynapse(weight=5, in_shape=(2, 4, 4), weight_exp=-1, delay=3, frame_len=frame_len)
    up = ConvTransposeSynapse(weight=w_ct, in_shape=(2, 2, 2), weight_exp=-2, frame_len=frame_len)
    skip = ConvSynapse(
        weight=w_skip, in_shape=(2, 4, 4), weight_exp=-3, padding=1, delay=4, frame_len=frame_len
    )
    head = ConvSynapse(weight=w_out, in_shape=(3, 4, 4), frame_len=frame_len)
    r = readouts["out"]
    out = Readout(
        shape=r.shape,
        bias=r.bias,
        start=r.start,
        steps=r.steps,
        frame_len=frame_len,
        record_frames=frames,
    )
    enc.a_out.connect(procs["n1"].a_in)
    for src, syn, dst in (("n1", pool, "n2"), ("n2", up, "n3"), ("n1", skip, "n3")):
        connect_source(procs[src], syn)
        syn.a_out.connect(procs[dst].a_in)
    connect_source(procs["n3"], head)
    head.a_out.connect(out.a_in)
    assert up.out_shape == (3, 4, 4) and pool.out_shape == (2, 2, 2)

    with lava_session(out):
        _run(out, frames * frame_len)
        acc_frames = _get(out.acc_frames)
        last = {n: _spikes(p, frame_len) for n, p in procs.items()}
        v3 = _get(procs["n3"].v)
    for f in range(frames):
        np.testing.assert_array_equal(acc_frames[f], refs[f].acc["out"], err_msg=f"frame {f}")
    for n in neurons:
        np.testing.assert_array_equal(last[n], refs[1].k[n], err_msg=n)
    np.testing.assert_array_equal(v3, refs[1].v["n3"])
    assert all(refs[1].k[n].any() for n in neurons), "every layer should spike"
    assert not np.array_equal(refs[0].acc["out"], refs[1].acc["out"])


def test_new_frame_through_encoder_var(no_leftover_processes) -> None:
    """Frame by frame: run a frame, read the readout, ``set`` the encoder's Var, run again."""
    rng = np.random.default_rng(5)
    frame_len, T = 6, 5
    frames = rng.integers(-20, 120, size=(2, 1, 3, 3))
    w = rng.integers(-30, 31, size=(2, 1, 3, 3))
    neurons = {"n": RNeuron((1, 3, 3), n=3, theta=8, bias=np.array([0]), start=0, steps=T)}
    readouts = {"out": RReadout((2, 3, 3), bias=np.array([1, -1]), start=1, steps=T)}
    edges = [REdge("n", "out", lambda k: ops.conv2d(k, w, 1, 1), -1, 1)]
    enc = StaticInputEncoder(current=frames[0], steps=T, frame_len=frame_len)
    neuron = _neuron(False, neurons["n"], 0, frame_len)
    syn = ConvSynapse(weight=w, in_shape=(1, 3, 3), weight_exp=-1, padding=1, frame_len=frame_len)
    r = readouts["out"]
    out = Readout(shape=r.shape, bias=r.bias, start=r.start, steps=r.steps, frame_len=frame_len)
    enc.a_out.connect(neuron.a_in)
    connect_source(neuron, syn)
    syn.a_out.connect(out.a_in)
    got = []
    with lava_session(out):
        for f in range(2):
            if f:
                enc.current.set(frames[f])
            _run(out, frame_len)
            got.append(_get(out.acc))
    for f in range(2):
        ref = ref_simulate(neurons, readouts, edges, {"n": frames[f]}, frame_len, T)
        np.testing.assert_array_equal(got[f], ref.acc["out"], err_msg=f"frame {f}")


@pytest.mark.parametrize("n", [4, 1])
def test_cascade_equals_fused_on_random_currents(n, no_leftover_processes) -> None:
    """Random currents per step (incl. saturation of v and of k), two frames: the cascade's
    recombined stage bits equal the fused neuron's k at every step, and both equal the
    reference. The bias window is ``[2, 5)`` of each 6-step frame."""
    from lava.proc.io.source import RingBuffer

    rng = np.random.default_rng(10 + n)
    shape, steps, frame_len, theta, bits = (2, 3, 3), 12, 6, 4, 8
    currents = rng.integers(-150, 151, size=(*shape, steps))
    bias = np.array([9, -6])
    src = RingBuffer(data=currents.astype(np.int32))
    kw = dict(
        shape=shape,
        n_thresholds=n,
        theta_unit_int=theta,
        bias=bias,
        start=2,
        steps=3,
        v_bits=bits,
        frame_len=frame_len,
        record_steps=frame_len,
    )
    fused, casc = MTNeuron(**kw), MTCascadeNeuron(**kw)
    src.s_out.connect(fused.a_in)
    src.s_out.connect(casc.a_in)

    ref_k = []
    for f in range(steps // frame_len):
        chunk = currents[..., f * frame_len : (f + 1) * frame_len]
        k = np.zeros((frame_len, *shape), np.int64)
        v = np.zeros(shape, np.int64)
        for t in range(frame_len):
            b = bias.reshape(-1, 1, 1) if 2 <= t < 5 else 0
            v = np.clip(v + chunk[..., t] + b, -128, 127)
            k[t] = np.clip(v // theta, 0, 2**n - 1)
            v -= k[t] * theta
        ref_k.append(k)
    assert ref_k[1].max() == 2**n - 1 and (ref_k[1] == 0).any()

    with lava_session(src):
        _run(src, steps)
        k_fused, k_casc = _spikes(fused, frame_len), _spikes(casc, frame_len)
        v_fused, v_casc = _get(fused.v), _get(casc.v)
    np.testing.assert_array_equal(k_fused, ref_k[1])
    np.testing.assert_array_equal(k_casc, k_fused)
    np.testing.assert_array_equal(v_casc, v_fused)
    np.testing.assert_array_equal(v_fused, v)


# ------------------------------------------------------------- API, validation, hygiene


def test_frame_step_convention() -> None:
    assert [frame_step(ts, 0) for ts in (1, 2, 7)] == [0, 1, 6]
    assert [frame_step(ts, 3) for ts in (1, 3, 4, 7)] == [0, 2, 0, 0]


def test_constructor_validation() -> None:
    w = np.ones((2, 1, 3, 3), dtype=np.int64)
    with pytest.raises(ValueError):
        ConvSynapse(weight=w, in_shape=(2, 4, 4))  # channel mismatch
    with pytest.raises(ValueError):
        ConvSynapse(weight=w, in_shape=(1, 4, 4), delay=0)
    with pytest.raises(ValueError):
        ConvSynapse(weight=w * 0.5, in_shape=(1, 4, 4))  # not integer
    with pytest.raises(ValueError):
        MTNeuron(shape=(1, 2, 2), theta_unit_int=0)
    with pytest.raises(ValueError):
        MTNeuron(shape=(2, 2, 2), theta_unit_int=4, bias=[1, 2, 3])
    with pytest.raises(ValueError):
        Readout(shape=(1, 2, 2), steps=5, start=2, frame_len=6)
    with pytest.raises(ValueError, match="steps"):
        MTNeuron(shape=(1, 2, 2), theta_unit_int=4, steps=-1)
    with pytest.raises(ValueError, match="steps"):
        MTCascadeNeuron(shape=(1, 2, 2), theta_unit_int=4, steps=-1)
    with pytest.raises(ValueError, match="steps"):
        StaticInputEncoder(current=np.ones((1, 2, 2)), steps=-1)
    syn = ConvSynapse(weight=w, in_shape=(1, 4, 4), padding=1)
    assert syn.out_shape == (2, 4, 4)
    assert AvgPoolSynapse(weight=3, in_shape=(2, 5, 7)).out_shape == (2, 2, 3)
    ct = ConvTransposeSynapse(weight=np.ones((2, 3, 3, 3), int), in_shape=(2, 4, 5))
    assert ct.out_shape == (3, 8, 10)


def test_stage_ports_refuse_undefined_weights() -> None:
    casc = MTCascadeNeuron(shape=(1, 2, 2), n_thresholds=3, theta_unit_int=4)
    syn = ConvSynapse(weight=np.ones((1, 1, 1, 1), int), in_shape=(1, 2, 2), n_stage_inputs=2)
    with pytest.raises(ValueError, match="n_stage_inputs"):
        connect_source(casc, syn)
    with pytest.raises(ValueError, match="s_in_2"):
        casc.s_out_2.connect(syn.s_in_2)


def test_a_cascade_layer_is_one_process_with_per_stage_ports() -> None:
    """The cascade stays a hierarchical process with one spike port per stage, but its N
    stages run in one leaf process (not one process per stage, #15)."""
    from lava.magma.core.model.sub.model import AbstractSubProcessModel

    from lava_spikingunet.backends.lava import MTCascadeLayer
    from lava_spikingunet.backends.lava.channels import compile_config

    enc = StaticInputEncoder(current=np.full((1, 2, 2), 9))
    casc = MTCascadeNeuron(shape=(1, 2, 2), n_thresholds=5, theta_unit_int=4)
    syn = ConvSynapse(weight=np.ones((1, 1, 1, 1), int), in_shape=(1, 2, 2), n_stage_inputs=5)
    enc.a_out.connect(casc.a_in)
    connect_source(casc, syn)
    assert [casc.stage_out(i).name for i in range(5)] == [f"s_out_{i}" for i in range(5)]
    exe = casc.compile(_cfg(), compile_config())
    leaves = sorted(type(p).__name__ for p in exe.proc_builders)
    assert leaves == ["ConvSynapse", "MTCascadeLayer", "StaticInputEncoder"]
    assert issubclass(casc.model_class, AbstractSubProcessModel)
    (layer,) = [p for p in exe.proc_builders if isinstance(p, MTCascadeLayer)]
    wired = [bool(getattr(layer, f"s_out_{i}").out_connections) for i in range(8)]
    assert wired == [True] * 5 + [False] * 3  # the stage ports past N stay unconnected


def test_session_terminates_workers_after_a_model_error() -> None:
    """A model exception makes Lava's stop() hang; lava_session kills the workers."""
    before = {p.pid for p in multiprocessing.active_children()}
    enc = StaticInputEncoder(current=np.full((1, 2, 2), 9))
    neuron = MTNeuron(shape=(1, 2, 2), theta_unit_int=4, record_steps=0)
    neuron.proc_params.overwrite("record_steps", 3)  # spikes Var is a (1,) dummy: IndexError
    enc.a_out.connect(neuron.a_in)
    with pytest.raises(RuntimeError):
        with lava_session(neuron, timeout=5):
            _run(neuron, 2)
    left = [p for p in multiprocessing.active_children() if p.pid not in before]
    assert not left, left


def test_no_children_left_after_run() -> None:
    before = {p.pid for p in multiprocessing.active_children()}
    enc = StaticInputEncoder(current=np.full((1, 2, 2), 9))
    neuron = MTNeuron(shape=(1, 2, 2), theta_unit_int=4)
    enc.a_out.connect(neuron.a_in)
    with lava_session(neuron):
        _run(neuron, 3)
        during = [p for p in multiprocessing.active_children() if p.pid not in before]
        assert len(during) >= 2  # Lava runs one OS process per leaf process (+ services)
        assert np.array_equal(_get(neuron.v), np.full((1, 2, 2), 27 % 4))  # 9/step, k=2: v=1,2,3
    left = [p for p in multiprocessing.active_children() if p.pid not in before]
    assert not left, left
