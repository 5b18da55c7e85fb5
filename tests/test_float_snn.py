"""Float spiking simulator: the MT neuron, delays, convergence to the U-Net."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lava_spikingunet.ann.unet import UNet, UNetConfig
from lava_spikingunet.conversion import ConversionConfig, calibrate, convert_unet
from lava_spikingunet.graph.timing import pipeline_depth
from lava_spikingunet.snn.float_sim import simulate, simulate_padded
from lava_spikingunet.snn.module import SpikingUNetModule
from lava_spikingunet.snn.mt_neuron import greedy_cascade, mt_fire, mt_scan, threshold_ladder


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors run far faster on one thread on a shared, busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------ the MT neuron


@settings(max_examples=300, deadline=None)
@given(
    v=st.floats(-10, 40, allow_nan=False),
    n=st.integers(1, 6),
    theta1=st.sampled_from([0.5, 1.0, 2.0, 4.0, 1.5]),
)
def test_mt_fire_is_the_greedy_cascade(v, n, theta1):
    ladder = threshold_ladder(theta1, n)
    spikes, residual = greedy_cascade(v, ladder)
    k, v_after = mt_fire(torch.tensor([v], dtype=torch.float64), ladder[-1], 2**n - 1)
    assert int(k) == sum(s << (n - 1 - i) for i, s in enumerate(spikes))
    if v < 2 * theta1:  # in range every subtraction is exact (Sterbenz)
        assert float(v_after) == residual
    else:
        assert math.isclose(float(v_after), residual, rel_tol=1e-12, abs_tol=1e-12)


def test_firing_rule_is_greater_or_equal():
    k, v = mt_fire(torch.tensor([0.25, 0.2499, 3.75, 4.0, -1.0]), 0.25, 15)
    assert k.tolist() == [1, 0, 15, 15, 0]
    assert v.tolist() == pytest.approx([0.0, 0.2499, 0.0, 0.25, -1.0])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-2, 6, allow_nan=False, width=32), min_size=1, max_size=12))
def test_mt_scan_matches_stepwise_cascade(currents):
    ladder = threshold_ladder(2.0, 4)
    k, _ = mt_scan(torch.tensor(currents, dtype=torch.float64)[:, None], 0.25, 15)
    v, expect = 0.0, []
    for c in currents:
        spikes, v = greedy_cascade(v + c, ladder)
        expect.append(sum(s << (3 - i) for i, s in enumerate(spikes)))
    assert k[:, 0].tolist() == expect


def test_reset_to_zero():
    k, v = mt_scan(torch.tensor([[0.7], [0.7], [2.5]]), 1.0, 1, reset="zero")
    assert k[:, 0].tolist() == [0, 1, 1]
    assert float(v) == 0.0


# ------------------------------------------------------------------ the network


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    unet = UNet(UNetConfig(in_channels=1, out_channels=1, base_width=4, depth=2, residual=True))
    x = torch.rand(4, 1, 16, 16)
    stats = calibrate(unet, [x[:2], x[2:]])
    with torch.no_grad():
        ref = unet(x)
    return unet, stats, x, ref


def _err(y, ref):
    return float((y - ref).abs().mean() / ref.abs().mean())


def test_converges_to_the_unet_as_t_grows(tiny):
    unet, stats, x, ref = tiny
    graph = convert_unet(unet, stats, 16, 16, ConversionConfig())
    errs = {T: _err(simulate(graph, x, T).y, ref) for T in (10, 50, 200)}
    # measured: 1.1e-2, 2.2e-3, 5.6e-4 (relative mean absolute error; IF: 4.6e-2 at T=10)
    assert errs[200] < errs[50] < errs[10] < 0.05
    assert errs[200] < 2e-3


def test_if_baseline_converges_slower(tiny):
    unet, stats, x, ref = tiny
    mt = convert_unet(unet, stats, 16, 16, ConversionConfig())
    if_ = convert_unet(unet, stats, 16, 16, ConversionConfig(neuron="if"))
    assert if_.node("enc0.c1").n_thresholds == 1 and if_.node("enc0.c1").theta1 == 1.0
    assert _err(simulate(mt, x, 10).y, ref) < _err(simulate(if_, x, 10).y, ref)
    zero = convert_unet(unet, stats, 16, 16, ConversionConfig(neuron="if", reset="zero"))
    assert torch.isfinite(simulate(zero, x, 10).y).all()


def test_zero_and_balanced_delays_agree(tiny):
    unet, stats, x, _ = tiny
    graph = convert_unet(unet, stats, 16, 16, ConversionConfig())
    zero = simulate(graph, x, 8, delays="zero", record=True, rates=True)
    bal = simulate(graph, x, 8, delays="balanced", record=True, rates=True)
    depth = bal.start[graph.readout_name]
    assert zero.total_steps == 8 and bal.total_steps == depth + 8
    # the longest path: 2 + 3 per level down, 3 per level up, the head; native: 4
    assert depth == 14 and pipeline_depth(graph) == 4
    torch.testing.assert_close(bal.y, zero.y, rtol=1e-5, atol=1e-6)
    for n in graph.neurons():
        s = bal.start[n]
        same = (bal.counts[n][s : s + 8] == zero.counts[n]).float().mean()
        assert same > 0.999, n
        assert (bal.counts[n][:s] == 0).all()
        torch.testing.assert_close(bal.rates[n], zero.rates[n], rtol=0, atol=0.01)


def test_native_delays_run_and_bias_is_gated(tiny):
    """Nothing fires before a node's start; input (t < T) and bias ([start, start + T))
    stop after the window, so a node whose inputs all arrive in step with it (and whose
    count never saturates) falls silent after its window, as do its sources."""
    unet, stats, x, ref = tiny
    graph = convert_unet(unet, stats, 16, 16, ConversionConfig())
    T = 10
    res = simulate(graph, x, T, delays="graph", record=True)
    assert res.start[graph.readout_name] == pipeline_depth(graph)
    silent = {graph.input_name}
    for n in graph.neurons():
        k, s = res.counts[n], res.start[n]
        assert (k[:s] == 0).all()
        ins = graph.in_edges(n)
        if all(src in silent and res.start[src] + e.delay == s for src, e in ins):
            if k[s : s + T].max() < graph.node(n).max_count:  # residual below one unit
                assert (k[s + T :] == 0).all(), n
                silent.add(n)
    assert {"enc0.c1", "enc0.c2", "pool1"} <= silent
    assert any(res.start[n] + T < res.total_steps for n in silent - {graph.input_name})
    assert _err(res.y, ref) < 0.1


def test_time_chunks_do_not_change_the_result(tiny):
    unet, stats, x, _ = tiny
    graph = convert_unet(unet, stats, 16, 16, ConversionConfig())
    a = simulate(graph, x, 7, delays="graph")
    b = simulate(graph, x, 7, delays="graph", chunk_elems=1)
    torch.testing.assert_close(a.y, b.y)


def test_padding_module_and_counts(tiny):
    unet, stats, _, _ = tiny
    graph = convert_unet(unet, stats, 16, 16, ConversionConfig(timesteps=20))
    x = torch.rand(1, 1, 13, 18)
    module = SpikingUNetModule(graph)
    y = module(x)
    with torch.no_grad():
        ref = unet(x)
    assert y.shape == ref.shape and _err(y, ref) < 0.05
    assert module.config.residual
    res = simulate_padded(graph, x, 5, record=True, rates=True)
    counts = res.counts["enc0.c1"]
    assert counts.dtype == torch.uint8 and counts.shape == (5, 1, 4, 16, 20)
    assert counts.max() <= 15
    torch.testing.assert_close(res.rates["enc0.c1"], counts.float().mean(0))
    with pytest.raises(ValueError, match="input must be"):
        simulate(graph, torch.rand(1, 3, 16, 16))


def test_bias_shift_rounds_instead_of_floor(tiny):
    unet, stats, x, ref = tiny
    for T in (2, 4, 8):
        plain = convert_unet(unet, stats, 16, 16, ConversionConfig(timesteps=T))
        shifted = convert_unet(unet, stats, 16, 16, ConversionConfig(timesteps=T, bias_shift=True))
        node = shifted.node("enc0.c1")
        assert node.bias == pytest.approx(plain.node("enc0.c1").bias + 0.25 / (2 * T))
        assert _err(simulate(shifted, x, T).y, ref) < _err(simulate(plain, x, T).y, ref)
