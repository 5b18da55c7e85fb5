"""Devices and data loading (issue #15, item 5): the integer reference and the float
simulation take a ``device``, and dataset evaluation feeds the models through a torch
DataLoader. CPU only: the explicit ``device="cpu"`` and the DataLoader path must give
exactly what the previous path gave."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lava_spikingunet.ann.unet import UNet
from lava_spikingunet.fixed_point.quantize import quantize_graph
from lava_spikingunet.graph.from_unet import unet_to_graph
from lava_spikingunet.reference.module import IntegerSpikingUNetModule
from lava_spikingunet.reference.simulator import simulate as ref_simulate
from lava_spikingunet.snn.float_sim import graph_tensors
from lava_spikingunet.snn.float_sim import simulate as float_simulate
from lava_spikingunet.snn.module import SpikingUNetModule

T = 4


def _float_graph(seed: int = 3, size: int = 16):
    torch.manual_seed(seed)
    net = UNet(in_channels=1, out_channels=1, base_width=4, depth=2, residual=True)
    return unet_to_graph(net, size, size, timesteps=T)


def _frames(b: int = 2, size: int = 16, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((b, 1, size, size)).astype(np.float32)


@pytest.fixture(scope="module")
def graphs():
    g = _float_graph()
    return g, quantize_graph(g, "loihi2", calib=_frames())


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu")])
def test_reference_on_an_explicit_device_is_identical(graphs, device):
    _, q = graphs
    x = _frames(2, 20)
    a = ref_simulate(q, x, record_spikes=True)
    b = ref_simulate(q, x, record_spikes=True, device=device)
    assert b.acc.device.type == "cpu" and b.acc.dtype == torch.int64
    assert torch.equal(a.acc, b.acc) and torch.equal(a.y, b.y)
    assert a.spikes.keys() == b.spikes.keys()
    assert all(torch.equal(a.spikes[n], b.spikes[n]) for n in a.spikes)
    assert {n: vars(s) for n, s in a.stats.items()} == {n: vars(s) for n, s in b.stats.items()}
    # float mode of the reference, too
    fa = ref_simulate(q, x, quantized=False)
    fb = ref_simulate(q, x, quantized=False, device=device)
    assert torch.equal(fa.acc, fb.acc)


def test_float_simulation_on_an_explicit_device_is_identical(graphs):
    g, _ = graphs
    x = torch.as_tensor(_frames(2, 16))
    a = float_simulate(g, x, T, delays="graph", record=True, rates=True)
    b = float_simulate(g, x, T, delays="graph", record=True, rates=True, device="cpu")
    assert torch.equal(a.y, b.y)
    assert all(torch.equal(a.counts[n], b.counts[n]) for n in a.counts)
    assert all(torch.equal(a.rates[n], b.rates[n]) for n in a.rates)
    tensors = graph_tensors(g, device="cpu")
    assert all(w.device.type == "cpu" for w in tensors.parameters(include_pool=True))
    c = float_simulate(g, x, T, delays="graph", tensors=tensors, device=torch.device("cpu"))
    assert torch.equal(a.y, c.y)


def test_modules_on_an_explicit_device_are_identical(graphs):
    g, q = graphs
    x = torch.as_tensor(_frames(1, 16))[..., :13, :15]  # padded and cropped back
    for cls, graph in ((SpikingUNetModule, g), (IntegerSpikingUNetModule, q)):
        a, b = cls(graph, T), cls(graph, T, device="cpu")
        assert b.device == torch.device("cpu")
        ya, yb = a(x), b(x)
        assert yb.shape == (1, 1, 13, 15) and yb.device == x.device and yb.dtype == x.dtype
        assert torch.equal(ya, yb)


# ----------------------------------------------------------------- dataset evaluation


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    from lava_spikingunet.data.synthetic import make_synthetic_datasets

    return make_synthetic_datasets(tmp_path_factory.mktemp("data"))


def test_test_loader_is_a_dataloader_in_order():
    from lava_spikingunet.conversion.tasks import test_loader

    items = [(torch.full((1, 3 + i, 5), float(i)), np.arange(i)) for i in range(5)]
    loader = test_loader(items, limit=3)
    assert isinstance(loader, torch.utils.data.DataLoader) and len(loader) == 3
    got = list(loader)
    assert len(got) == 3
    for (xa, ya), (xb, yb) in zip(got, items[:3], strict=True):
        assert torch.equal(xa, xb) and isinstance(ya, np.ndarray) and np.array_equal(ya, yb)
    assert len(list(test_loader(items))) == 5


@pytest.mark.parametrize("name", ["denoise-grey", "drive"])
def test_evaluate_through_a_dataloader_equals_the_direct_loop(graphs, syn, name):
    """``evaluate`` (DataLoader) gives the metrics of the previous direct loop, exactly."""
    from lava_spikingunet.conversion import tasks as T_
    from lava_spikingunet.training import evaluate as ev

    _, q = graphs
    task = T_.load_task(name, syn)
    model = IntegerSpikingUNetModule(q, T, device="cpu")
    got = T_.evaluate(task, model, limit=2, crop=24)
    if name == "denoise-grey":
        sets = {25: T_._Cropped(task.test_sets([25])[25], 24)}
        want = ev.evaluate_denoise(model, sets, 2, with_ssim=False)
    else:
        items = (T_.center_crop(it, 24) for it in task.test_split.eval_items(2))
        want = task.named(ev.evaluate_binary(model, items))
    assert got.keys() == want.keys()
    for k in want:
        assert got[k] == want[k] or (np.isnan(got[k]) and np.isnan(want[k])), k
