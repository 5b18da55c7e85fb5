"""Calibration, layer-wise / connection-wise normalization, BN folding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lava_spikingunet.ann.unet import UNet, UNetConfig
from lava_spikingunet.conversion import (
    ConversionConfig,
    calibrate,
    compute_lambdas,
    convert_unet,
    fold_all_batchnorm,
    fold_batchnorm,
    lambda_groups,
)
from lava_spikingunet.conversion.calibrate import ValueSample
from lava_spikingunet.graph.from_unet import activation_points
from lava_spikingunet.graph.ir import InputNode, NeuronNode
from lava_spikingunet.graph.ops import apply_edge


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(1)
    unet = UNet(UNetConfig(in_channels=2, out_channels=3, base_width=4, depth=2, head_kernel=1))
    x = torch.rand(6, 2, 16, 16)
    return unet, x


def _manual_points(unet: UNet, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every activation point computed by hand (independent of the hooks)."""
    out, skips, h = {}, [], x
    for i, block in enumerate(unet.enc):
        if i > 0:
            h = out[f"pool{i}"] = F.avg_pool2d(h, 2)
        h = out[f"enc{i}.c1"] = F.relu(block.conv1(h))
        h = out[f"enc{i}.c2"] = F.relu(block.conv2(h))
        skips.append(h)
    for i in reversed(range(unet.config.depth)):
        h = out[f"up{i}"] = F.relu(unet.up[i](h))
        h = out[f"dec{i}.c1"] = F.relu(unet.dec[i].conv1(torch.cat([skips[i], h], 1)))
        h = out[f"dec{i}.c2"] = F.relu(unet.dec[i].conv2(h))
    return out


def test_calibration_hooks_record_every_point_exactly(tiny):
    unet, x = tiny
    stats = calibrate(unet, [x[:3], (x[3:], "ignored target")], max_samples=None)
    with torch.no_grad():
        manual = _manual_points(unet, x)
    assert list(stats.samples) == activation_points(2) == list(manual)
    for name, value in manual.items():
        s = stats.samples[name]
        assert s.exact and s.count == value.numel()
        assert s.max == pytest.approx(float(value.max()), rel=1e-6)
        expect = np.percentile(value.double().numpy(), 99.9)
        assert stats.percentile(name, 99.9) == pytest.approx(expect, rel=1e-5)
    both = torch.cat([manual["enc0.c2"], manual["up0"]], 1).double().numpy()
    assert stats.percentile(["enc0.c2", "up0"], 99.0) == pytest.approx(
        np.percentile(both, 99.0), rel=1e-5
    )


def test_subsample_is_bounded_seeded_and_close():
    torch.manual_seed(0)
    data = torch.distributions.Exponential(1.0).sample((40, 5000))
    samples = []
    for _ in range(2):
        s = ValueSample(20000, torch.Generator().manual_seed(3))
        for row in data:
            s.add(row)
        samples.append(s)
    a, b = samples
    assert a.sample().numel() == 20000 and a.count == 200000 and not a.exact
    assert torch.equal(a.sample(), b.sample())  # seeded
    assert a.max == float(data.max())
    exact = float(np.percentile(data.numpy(), 99.0))
    assert a.percentile(99.0) == pytest.approx(exact, rel=0.05)
    assert a.percentile(100) == a.max


def _gain(graph, src):
    if src == "input":
        return 1.0
    return graph.meta.extra["lambdas"][src] * graph.node(src).theta_unit


@pytest.mark.parametrize("norm", ["connection", "layer"])
def test_concat_parts_reach_every_channel_with_their_own_scale(tiny, norm):
    unet, x = tiny
    stats = calibrate(unet, [x])
    graph = convert_unet(unet, stats, 16, 16, ConversionConfig(norm=norm))
    lam = graph.meta.extra["lambdas"]
    for i in range(unet.config.depth):
        dst, skip, up = f"dec{i}.c1", f"enc{i}.c2", f"up{i}"
        ins = dict(graph.in_edges(dst))
        assert list(ins) == [skip, up]
        w_skip, w_up = ins[skip].weight, ins[up].weight
        # each part covers every channel of its source ...
        assert w_skip.shape[1] == graph.node(skip).shape[0]
        assert w_up.shape[1] == graph.node(up).shape[0]
        assert all(np.abs(w_skip[:, c]).sum() > 0 for c in range(w_skip.shape[1]))
        assert all(np.abs(w_up[:, c]).sum() > 0 for c in range(w_up.shape[1]))
        # ... and undoing each part's own scale gives back the whole conv weight
        whole = (
            np.concatenate([w_skip / _gain(graph, skip), w_up / _gain(graph, up)], axis=1)
            * lam[dst]
        )
        w = unet.dec[i].conv1.weight.detach().double().numpy()
        np.testing.assert_allclose(whole, w, rtol=1e-12, atol=1e-15)
        if norm == "connection":
            assert lam[skip] != lam[up]
            assert lam[skip] == pytest.approx(stats.percentile(skip, 99.9))
            assert lam[up] == pytest.approx(stats.percentile(up, 99.9))
        else:
            assert lam[skip] == lam[up] == pytest.approx(stats.percentile([skip, up], 99.9))


def _rate_forward(graph, x):
    """The graph at the rate level with ReLU neurons: must equal the U-Net exactly."""
    values = {}
    for n in graph.order():
        op = graph.node(n)
        if isinstance(op, InputNode):
            values[n] = x
            continue
        cur = sum(apply_edge(e, values[s], torch.tensor(e.weight)) for s, e in graph.in_edges(n))
        cur = cur + torch.tensor(op.bias).view(1, -1, 1, 1)
        values[n] = F.relu(cur) / op.theta_unit if isinstance(op, NeuronNode) else cur
    return values[graph.readout_name]


@pytest.mark.parametrize("norm", ["connection", "layer"])
@pytest.mark.parametrize("percentile", [99.9, 100.0])
def test_normalization_is_exact_at_the_rate_level(tiny, norm, percentile):
    unet, x = tiny
    stats = calibrate(unet, [x])
    cfg = ConversionConfig(norm=norm, percentile=percentile, n_thresholds=3, theta1=1.0)
    graph = convert_unet(unet, stats, 16, 16, cfg)
    with torch.no_grad():
        ref = unet.double()(x.double())
        unet.float()
    torch.testing.assert_close(_rate_forward(graph, x.double()), ref, rtol=1e-9, atol=1e-9)


def test_lambda_groups_and_config(tiny):
    assert lambda_groups(1, "connection") == [[n] for n in activation_points(1)]
    assert lambda_groups(1, "layer") == [
        ["enc0.c1"], ["enc0.c2", "up0"], ["pool1"], ["enc1.c1"], ["enc1.c2"],
        ["dec0.c1"], ["dec0.c2"],
    ]  # fmt: skip
    unet, x = tiny
    stats = calibrate(unet, [x])
    lam_max = compute_lambdas(stats, 2, "connection", 100.0)
    assert lam_max["enc0.c1"] == pytest.approx(stats.samples["enc0.c1"].max)
    with pytest.raises(ValueError, match="norm"):
        ConversionConfig(norm="channel")
    with pytest.raises(ValueError, match="percentile"):
        ConversionConfig(percentile=0)
    graph = convert_unet(unet, stats, 16, 16, ConversionConfig(neuron="if", reset="zero"))
    node = graph.node("dec0.c2")
    assert (node.n_thresholds, node.theta1, node.reset) == (1, 1.0, "zero")
    assert graph.meta.extra["conversion"]["neuron"] == "if"
    assert set(graph.meta.extra["calibration"]["points"]) == set(activation_points(2))


def test_dead_layer_gets_a_safe_lambda():
    torch.manual_seed(0)
    unet = UNet(UNetConfig(base_width=2, depth=1))
    with torch.no_grad():
        unet.enc[0].conv1.bias.fill_(-100.0)  # enc0.c1 never fires
    stats = calibrate(unet, [torch.rand(2, 1, 8, 8)])
    lam = compute_lambdas(stats, 1)
    assert lam["enc0.c1"] == 1.0 and all(v > 0 for v in lam.values())


def test_fold_batchnorm():
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU())
    seq[1].running_mean.normal_()
    seq[1].running_var.uniform_(0.5, 2.0)
    seq[1].weight.data.normal_()
    seq[1].bias.data.normal_()
    seq.eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        ref = seq(x)
        fused = fold_batchnorm(seq[0], seq[1])
        torch.testing.assert_close(F.relu(fused(x)), ref, rtol=1e-5, atol=1e-5)
        assert fold_all_batchnorm(seq) == 1
        assert isinstance(seq[1], nn.Identity)
        torch.testing.assert_close(seq(x), ref, rtol=1e-5, atol=1e-5)
