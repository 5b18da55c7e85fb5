"""A tiny stock Lava network (source -> Dense -> LIF) under Loihi2SimCfg fixed_pt."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.lava


def expected_lif_spikes(spikes_in: np.ndarray, w: np.ndarray, vth: int) -> np.ndarray:
    """Lava's fixed-point LIF with du=4095, dv=0, no bias: v += W s(t-1); fire on v > vth."""
    n_out, steps = w.shape[0], spikes_in.shape[1]
    v = np.zeros(n_out, dtype=np.int64)
    out = np.zeros((n_out, steps), dtype=bool)
    for t in range(steps):
        a = w @ spikes_in[:, t - 1] if t > 0 else np.zeros(n_out, dtype=np.int64)
        v = v + a  # in units of 2^6 on both sides of the comparison
        out[:, t] = v > vth
        v[out[:, t]] = 0
    return out


def test_dense_lif_fixed_pt_runs_exactly(no_leftover_processes):
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    rng = np.random.default_rng(0)
    steps, n_in, n_out, vth = 12, 5, 3, 40
    spikes_in = (rng.random((n_in, steps)) < 0.5).astype(np.int32)
    w = rng.integers(0, 30, size=(n_out, n_in))

    source = Source(data=spikes_in)
    dense = Dense(weights=w)
    lif = LIF(shape=(n_out,), du=4095, dv=0, vth=vth, bias_mant=0)
    sink = Sink(shape=(n_out,), buffer=steps)
    source.s_out.connect(dense.s_in)
    dense.a_out.connect(lif.a_in)
    lif.s_out.connect(sink.a_in)
    try:
        lif.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        got = sink.data.get().astype(bool)
    finally:
        lif.stop()
    assert got.any(), "the test network should spike"
    np.testing.assert_array_equal(got, expected_lif_spikes(spikes_in, w, vth))
