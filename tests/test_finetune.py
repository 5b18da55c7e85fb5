"""Fine-tuning with accumulated spiking flow."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from lava_spikingunet.ann.unet import UNet, UNetConfig
from lava_spikingunet.conversion import ConversionConfig, calibrate, convert_unet
from lava_spikingunet.conversion.finetune import (
    FinetuneConfig,
    SurrogateModule,
    finetune,
    spiking_loss,
    surrogate_forward,
    task_loss,
)
from lava_spikingunet.snn.float_sim import graph_tensors, simulate


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _denoiser():
    torch.manual_seed(0)
    unet = UNet(UNetConfig(in_channels=1, out_channels=1, base_width=4, depth=2, residual=True))
    clean = torch.rand(8, 1, 16, 16)
    noisy = clean + 0.1 * torch.randn_like(clean)
    graph = convert_unet(unet, calibrate(unet, [noisy]), 16, 16, ConversionConfig(timesteps=3))
    return graph, noisy, clean


def test_surrogate_values_are_the_spiking_readout():
    graph, x, _ = _denoiser()
    tensors = graph_tensors(graph, requires_grad=True)
    sim = simulate(graph, x, 3, tensors=tensors, rates=True)
    y = surrogate_forward(graph, tensors, x, sim.rates)
    torch.testing.assert_close(y.detach(), sim.y, rtol=1e-5, atol=1e-6)
    # the gradient reaches every trainable tensor through the accumulated inputs
    y.square().sum().backward()
    for (s, d), w in tensors.weights.items():
        if w.dim() > 0:
            assert w.grad is not None and w.grad.abs().sum() > 0, (s, d)


def test_finetuning_lowers_the_short_t_loss_on_a_fixed_batch():
    graph, x, clean = _denoiser()
    before = spiking_loss(graph, (x, clean), 3)
    cfg = FinetuneConfig(steps=25, lr=2e-3, seed=0)
    res = finetune(graph, itertools.repeat((x, clean)), cfg)
    after = spiking_loss(res.graph, (x, clean), 3)
    assert res.steps == 25 and res.losses[0] == pytest.approx(before, rel=1e-5)
    assert after < 0.8 * before
    # weights were written back; the original graph is untouched
    assert spiking_loss(graph, (x, clean), 3) == pytest.approx(before)
    assert res.graph.meta.extra["finetune"]["steps_done"] == 25
    # keep-best on the held-out batches (here the same batch): the kept graph's loss is
    # the smallest validation loss, never above the start
    steps, vals = zip(*res.val_losses, strict=True)
    assert steps[0] == 0 and vals[0] == pytest.approx(before, rel=1e-5) and steps[-1] == 25
    assert (
        after == pytest.approx(min(vals), rel=1e-5)
        and res.best_step == steps[vals.index(min(vals))]
    )
    assert res.graph.meta.timesteps == 3
    # seeded and deterministic
    again = finetune(graph, itertools.repeat((x, clean)), cfg)
    assert again.losses == res.losses


def test_time_budget_stops_early_and_stale_integers_are_dropped():
    graph, x, clean = _denoiser()
    for _, _, e in graph.edges():
        e.mant, e.exp = np.zeros(np.shape(e.weight), dtype=np.int64), 0
    res = finetune(graph, itertools.repeat((x, clean)), FinetuneConfig(steps=50, time_budget=0))
    assert res.steps == 0 and res.stopped == "time budget"
    assert all(e.mant is None and e.exp is None for _, _, e in res.graph.edges())
    assert all(e.mant is not None for _, _, e in graph.edges())


def test_segmentation_losses_and_custom_loss_fn():
    torch.manual_seed(0)
    unet = UNet(UNetConfig(in_channels=1, out_channels=3, base_width=4, depth=1, head_kernel=1))
    x = torch.rand(4, 1, 8, 8)
    target = torch.randint(0, 3, (4, 8, 8))
    target[:, 0] = 11  # void, ignored
    graph = convert_unet(unet, calibrate(unet, [x]), 8, 8, ConversionConfig(timesteps=4))
    assert graph.meta.task == "segment"

    def loss_fn(model, batch):
        return torch.nn.functional.cross_entropy(model(batch[0]), batch[1], ignore_index=11)

    before = spiking_loss(graph, (x, target), 4, loss_fn)
    res = finetune(graph, itertools.repeat((x, target)), FinetuneConfig(steps=15, lr=3e-3), loss_fn)
    assert spiking_loss(res.graph, (x, target), 4, loss_fn) < before
    # the default losses
    y = SurrogateModule(graph, graph_tensors(graph), 4)(x)
    assert torch.isfinite(task_loss("segment", y, x, target, ignore_index=11))
    assert torch.isfinite(task_loss("segment", y[:, :1], x, (target == 1).float()[:, None]))


# ------------------------------------------------------------------ the CLI


def _data_root():
    from lava_spikingunet.data.paths import default_data_root

    root = default_data_root()
    if root is None or not (root / "denoising" / "train400").is_dir():
        pytest.skip("needs ../shared/datasets/denoising/train400")
    return root


@pytest.mark.datasets
def test_cli_convert_then_finetune(tmp_path, capsys):
    from lava_spikingunet.checkpoints import save_checkpoint
    from lava_spikingunet.cli import main
    from lava_spikingunet.graph.serialize import load_graph

    root = _data_root()
    torch.manual_seed(0)
    unet = UNet(UNetConfig(1, 1, base_width=4, depth=2, head_kernel=3, residual=True))
    ckpt = save_checkpoint(
        tmp_path / "unet.pt",
        {"config": unet.config.to_dict(), "state_dict": unet.state_dict(), "task": "denoise-grey"},
        overwrite=False,
    )
    model, tuned = tmp_path / "snn.pt", tmp_path / "ft.pt"
    common = ["--data-root", str(root), "--threads", "1", "--no-progress"]
    argv = ["convert", str(ckpt), "--out", str(model), "--frame", "32x48", "--calib-batches", "1"]
    assert main([*argv, "--batch", "2", "--norm", "layer", "--percentile", "max", *common]) == 0
    graph = load_graph(model)
    assert graph.node("input").shape == (1, 32, 48) and graph.meta.timesteps == 10
    assert graph.meta.extra["task_name"] == "denoise-grey"
    conv = graph.meta.extra["conversion"]
    assert conv["norm"] == "layer"
    assert (conv["n_thresholds"], conv["theta1"], conv["bias_shift"]) == (6, 1.0, True)
    paper = tmp_path / "paper.pt"
    extra = ["--preset", "paper", "--thresholds", "3", "--calib-batches", "1", "--batch", "2"]
    assert (
        main(["convert", str(ckpt), "--out", str(paper), "--frame", "32x32", *extra, *common]) == 0
    )
    conv = load_graph(paper).meta.extra["conversion"]
    assert (conv["n_thresholds"], conv["theta1"], conv["bias_shift"]) == (3, 2.0, False)
    argv = ["finetune", str(model), "--out", str(tuned), "--steps", "2", "--batch", "2"]
    assert main([*argv, "--patch", "32", "--T", "3", *common]) == 0
    assert load_graph(tuned).meta.extra["finetune"]["steps_done"] == 2
    assert "fine-tuned 2 steps at T=3" in capsys.readouterr().out

    # clean errors for bad input
    capsys.readouterr()
    assert main(["finetune", str(model), "--out", str(tuned), *common]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "none.pt"), "--out", str(tmp_path / "x.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = ["convert", str(ckpt), "--out", str(tmp_path / "x.pt"), "--frame", "30x30", *common]
    assert main(bad) == 2
    assert "must divide by" in capsys.readouterr().err
    assert main(["finetune", str(ckpt), "--out", str(tmp_path / "y.pt")]) == 2
    assert "not a lava-spikingunet" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["convert", str(ckpt), "--out", str(tmp_path / "x.pt"), "--percentile", "101"])
