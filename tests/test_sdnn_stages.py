"""The library side of ``verify`` / ``profile`` / ``deploy --form sdnn``
(:mod:`lava_spikingunet.backends.sdnn.stages`)."""

from __future__ import annotations

import numpy as np
import pytest
from _sdnn_cases import random_sdnn

from lava_spikingunet.backends.sdnn import stages
from lava_spikingunet.hw.profiles import load_profile
from lava_spikingunet.reference.sigma_delta import simulate_sdnn


def _frames(x):
    """(F, 1, C, H, W) float frames -> (F, C, H, W)."""
    return x[:, 0].numpy().astype(np.float64)


def test_profile_counts_graded_deltas_and_cores():
    _, g, x, cur = random_sdnn(2, depth=2, frames=3, vth=1)
    frames = _frames(x)
    frames[1] = frames[0]  # a repeated frame sends nothing
    out = stages.profile_sdnn(g, frames)
    cur = stages.frames_current(g, frames)[1]
    ref = simulate_sdnn(g, cur, rest=True)  # the frames start from the resting state
    hold = g.meta.extra["sdnn"]["steps"]
    assert out["start"] == "rest" and out["rest"]["steps"] == hold
    assert out["synops_per_frame"] == [int(v) for v in ref.synops.reshape(3, hold).sum(1)]
    assert out["rest"]["synops"] == ref.rest_synops > 0
    reset = simulate_sdnn(g, cur)
    want = [int(v) for v in reset.synops.reshape(3, hold).sum(1)]
    assert out["from_reset"]["synops_per_frame"] == want
    assert out["synops_per_frame"][1] == 0 < out["synops_per_frame"][0]
    assert out["synops_per_mac"][0] == out["synops_per_frame"][0] / out["ann_macs_per_frame"]
    assert out["cores"] >= len(list(g.neurons())) and out["chips"] >= 1


def test_problems_name_every_field_that_does_not_fit():
    _, g, _, _ = random_sdnn(0, depth=1)
    assert stages.sdnn_problems(g, "loihi2") == []
    bad = g.copy()
    n = next(iter(bad.neurons()))
    bad.meta.extra["sdnn"]["nodes"][n]["state_exp"] = 8
    s, d, e = next((s, d, e) for s, d, e in bad.edges() if not getattr(e, "static", False))
    e.exp = 9
    e.delay = 99
    text = "\n".join(stages.sdnn_problems(bad, load_profile("loihi2")))
    assert "state_exp 8" in text and "exponent 9" in text and "delay 99" in text


def test_deploy_stops_with_the_deploy_message_without_lava_loihi(monkeypatch):
    from lava_spikingunet.errors import HardwareUnavailableError, UserError
    from lava_spikingunet.pipeline import deploy

    _, g, x, _ = random_sdnn(1, depth=1)
    monkeypatch.setattr(deploy, "lava_loihi_available", lambda: False)
    with pytest.raises(HardwareUnavailableError, match="lava-loihi is not installed"):
        stages.deploy_sdnn(g, _frames(x), model="m.h5")
    bad = g.copy()
    bad.meta.extra["sdnn"]["nodes"][next(iter(bad.neurons()))]["state_exp"] = 9
    with pytest.raises(UserError, match="does not fit"):
        stages.deploy_sdnn(bad, _frames(x))


def test_deploy_runs_the_stock_network_with_the_hardware_config(monkeypatch):
    """With lava-loihi present the run goes to Loihi2HwCfg (a stand-in run here)."""
    from lava_spikingunet.backends.sdnn import network
    from lava_spikingunet.pipeline import deploy

    _, g, x, cur = random_sdnn(3, depth=1, frames=2)
    seen = {}

    def fake_run(graph, current, hold=None, **kw):
        seen["cfg"] = type(kw["run_cfg"]).__name__
        ref = simulate_sdnn(graph, current, hold, record=True, rest=kw["rest"])
        return network.SDNNLavaResult(ref.steps, ref.hold, ref.readout[:, 0],
                                      ref.readout_steps[:, 0], {})  # fmt: skip

    monkeypatch.setattr(deploy, "lava_loihi_available", lambda: True)
    monkeypatch.setattr(network, "run_sdnn", fake_run)
    y = stages.deploy_sdnn(g, _frames(x))
    assert seen["cfg"] == "Loihi2HwCfg"
    np.testing.assert_array_equal(y, simulate_sdnn(g, cur, rest=True).y[:, 0])


@pytest.mark.lava
@pytest.mark.slow
def test_verify_finds_no_mismatch_and_counts_a_planted_one(monkeypatch, no_leftover_processes):
    from lava_spikingunet.backends.sdnn import network

    _, g, x, _ = random_sdnn(4, depth=1, frames=2, vth=1)
    out = stages.verify_sdnn(g, _frames(x))
    assert out["mismatches"] == 0 and out["messages"] > 0 and out["frames"] == 2
    real = network.run_sdnn

    def off_by_one(*a, **kw):
        res = real(*a, **kw)
        res.readout_steps[-1, 0, 0, 0] += 1
        return res

    monkeypatch.setattr(network, "run_sdnn", off_by_one)
    assert stages.verify_sdnn(g, _frames(x))["readout"] == 1
