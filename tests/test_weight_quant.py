"""Weight-aware I-LIF training rounds each weight exactly as the deployed quantizer does."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_ilif import _ilif_unet

from lava_spikingunet.ann.unet import UNet
from lava_spikingunet.ann.weight_quant import attach_weight_quant, fake_quantize
from lava_spikingunet.conversion.ilif import convert_ilif
from lava_spikingunet.fixed_point.quantize import dequantize_graph, quantize_graph, quantize_weights

CASES = [(0, 1, 3, 15, (1, 1), True), (1, 2, 4, 255, (1, 1), True), (2, 2, 3, 7, (3, 2), False)]


def _unet(*case):
    """A calibrated random I-LIF U-Net (test_ilif's) with its steps spread apart, so that
    edge gains differ from layer to layer."""
    unet, x, side = _ilif_unet(*case)
    with torch.no_grad():
        for i, mod in enumerate(unet.ilif.values()):
            mod.log_theta += 0.3 * ((i % 3) - 1)
    return unet, x, side


@pytest.mark.parametrize("gain", [1.0, 37.5, 1e-3])
def test_fake_quantize_matches_the_deployed_quantizer(gain):
    w = torch.randn(6, 4, 3, 3, generator=torch.Generator().manual_seed(1)) * 0.2
    q = fake_quantize(w, gain, (-128, 127), (-7, 7)).double()
    mant, exp = quantize_weights(w.double().numpy() * gain, (-128, 127), (-7, 7))
    np.testing.assert_allclose(q.numpy() * gain, np.ldexp(mant.astype(float), exp), rtol=1e-6)


def test_fake_quantize_passes_the_gradient_straight_through():
    w = torch.randn(3, 3, requires_grad=True)
    fake_quantize(w, 10.0, (-128, 127), (-7, 7)).sum().backward()
    assert torch.equal(w.grad, torch.ones(3, 3))


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"seed{c[0]}-d{c[1]}-D{c[3]}")
def test_trained_weights_are_the_deployed_weights(case):
    """The weight-quantized I-LIF U-Net == the dequantized (deployed) graph, edge by edge,
    and so both compute the same function (to float rounding of the activations)."""
    unet, x, side = _unet(*case)
    q = dequantize_graph(quantize_graph(convert_ilif(unet, side, side), "loihi2", calib=x))
    attach_weight_quant(unet, "loihi2")
    # the graph built from the fake-quantized weights has the deployed weights
    wq = UNet(unet.config)
    wq.load_state_dict(unet.state_dict())
    quant = unet.weight_quant
    with torch.no_grad():
        for i, block in enumerate(wq.enc):
            if i > 0:
                block.conv1.weight.copy_(quant(f"enc{i}.conv1", block.conv1.weight))
            block.conv2.weight.copy_(quant(f"enc{i}.conv2", block.conv2.weight))
        for i in range(wq.config.depth):
            wq.up[i].weight.copy_(quant(f"up{i}", wq.up[i].weight))
            wq.dec[i].conv1.weight.copy_(quant(f"dec{i}.conv1", wq.dec[i].conv1.weight))
            wq.dec[i].conv2.weight.copy_(quant(f"dec{i}.conv2", wq.dec[i].conv2.weight))
        wq.head.weight.copy_(quant("head", wq.head.weight))
    g = convert_ilif(wq, side, side)
    for (src, dst, e), (_, _, eq) in zip(g.edges(), q.edges(), strict=True):
        if getattr(e, "static", False):
            continue
        want = np.asarray(eq.weight, dtype=np.float64)
        got = np.asarray(e.weight, dtype=np.float64)
        if dst.startswith("pool"):
            # the pool's quantized scalar enters the forward as a factor on the 1/4
            got = got * float(quant(f"pool{dst[4:]}", torch.tensor(0.25, dtype=torch.float64)))
            got = got / 0.25
        if dst == "head":
            # the readout scale is a power of two: compare up to it
            ratio = want[want != 0] / got[want != 0]
            assert np.allclose(ratio, ratio[0], rtol=1e-6), (src, dst)
            continue
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12, err_msg=f"{src}->{dst}")


@pytest.mark.parametrize("case", CASES[:2], ids=lambda c: f"seed{c[0]}-d{c[1]}-D{c[3]}")
def test_weight_quantized_forward_is_the_quantized_graph(case):
    """With the quantizer attached, the U-Net computes the dequantized graph's function."""
    from lava_spikingunet.reference.simulator import simulate

    unet, x, side = _unet(*case)
    q = dequantize_graph(quantize_graph(convert_ilif(unet, side, side), "loihi2", calib=x))
    for name in q.neurons():  # compare weights only: keep the float biases
        q.node(name).bias = convert_ilif(unet, side, side).node(name).bias
    q.node(q.readout_name).bias = convert_ilif(unet, side, side).node(q.readout_name).bias
    attach_weight_quant(unet, "loihi2")
    with torch.no_grad():
        want = unet(x).double()
    got = simulate(q, x, quantized=False, timesteps=1).y
    torch.testing.assert_close(got, want, rtol=0, atol=1e-3)  # float32 vs float64
    attach_weight_quant(unet, None)
    with torch.no_grad():
        assert not torch.allclose(unet(x).double(), want, rtol=0, atol=1e-6)


def test_training_with_weight_quant_and_its_refusals(tmp_path):
    from lava_spikingunet.cli import main
    from lava_spikingunet.data.synthetic import make_synthetic_datasets

    syn = make_synthetic_datasets(tmp_path / "data")
    common = ["--data-root", str(syn), "--width", "4", "--depth", "2", "--batch", "2",
              "--patch", "16", "--warmup", "1", "--eval-every", "2", "--threads", "1",
              "--no-progress", "--steps", "2"]  # fmt: skip
    ilif = ["--activation", "ilif", "--levels", "15"]
    assert main(["train", "denoise-grey", "--out", str(tmp_path / "a"), *ilif,
                 "--weight-quant", "loihi2", *common]) == 0  # fmt: skip
    from lava_spikingunet.checkpoints import load_checkpoint

    ckpt = load_checkpoint(tmp_path / "a" / "final.pt")
    assert ckpt["train"]["options"]["weight_quant"] == "loihi2"
    assert not any("weight_quant" in k for k in ckpt["state_dict"])  # float weights only
    assert main(["train", "denoise-grey", "--out", str(tmp_path / "b"),
                 "--weight-quant", "loihi2", *common]) == 2  # fmt: skip
    assert main(["train", "denoise-grey", "--out", str(tmp_path / "c"), *ilif,
                 "--weight-quant", "nochip", *common]) == 2  # fmt: skip
    assert not (tmp_path / "b" / "final.pt").exists()


def test_macs_and_the_synop_penalty_are_unchanged_by_weight_quant():
    from lava_spikingunet.ann.ilif import record_counts, synops_per_mac

    unet, x, side = _unet(*CASES[1])
    macs = unet.count_macs(side, side)
    attach_weight_quant(unet, "loihi2")
    assert unet.count_macs(side, side) == macs > 0
    record_counts(unet)
    unet(x)
    assert 0 < float(synops_per_mac(unet, "graded")) < float("inf")
