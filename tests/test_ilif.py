"""I-LIF activations: forward/backward, exact T = 1 conversion, the synop penalty, Lava."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lava_spikingunet.ann.ilif import (
    ILIF,
    VALID_LEVELS,
    calibrate_thetas,
    fanouts,
    levels_to_thresholds,
    record_counts,
    synop_rates,
    synops_per_mac,
)
from lava_spikingunet.ann.unet import UNet, UNetConfig
from lava_spikingunet.conversion.ilif import convert_ilif, integer_ilif_forward
from lava_spikingunet.fixed_point.quantize import quantize_graph
from lava_spikingunet.graph.timing import frame_steps, pipeline_depth
from lava_spikingunet.reference.input_current import input_current
from lava_spikingunet.reference.simulator import simulate


def test_forward_is_round_half_up_of_the_clamped_ratio():
    act = ILIF(levels=7, theta=0.5)
    u = torch.tensor([-1.0, 0.0, 0.24, 0.25, 0.26, 0.75, 1.6, 3.2, 3.5, 3.75, 9.0])
    with torch.no_grad():
        out = act(u)
    want = torch.tensor([0, 0, 0, 1, 1, 2, 3, 6, 7, 7, 7], dtype=torch.float32) * 0.5
    torch.testing.assert_close(out, want)
    out_grad_mode = act(u)  # the training path computes the same values
    torch.testing.assert_close(out_grad_mode.detach(), want)


def test_backward_is_straight_through_inside_and_zero_outside():
    act = ILIF(levels=3, theta=1.0)
    u = torch.tensor([-0.5, 0.0, 0.4, 1.5, 2.9, 3.0, 3.2, 5.0], requires_grad=True)
    act(u).sum().backward()
    # inside [0, D * theta] = [0, 3]: gradient 1; outside: 0
    torch.testing.assert_close(u.grad, torch.tensor([0, 1, 1, 1, 1, 1, 0, 0.0]))
    # LSQ step gradient (through log theta: times theta = 1): s - u/theta inside, D above
    s = torch.tensor([0, 0, 0, 2, 3, 3, 3, 3.0])
    x = u.detach()
    inside = (x >= 0) & (x <= 3)
    want = ((s - x) * inside + 3.0 * (x > 3)).sum()
    torch.testing.assert_close(act.log_theta.grad, want)


@pytest.mark.parametrize("levels", [0, 2, 4, 16, 511])
def test_levels_must_be_a_power_of_two_minus_one(levels):
    with pytest.raises(ValueError, match="2\\^N - 1"):
        levels_to_thresholds(levels)
    with pytest.raises(ValueError):
        UNetConfig(activation="ilif", levels=levels)


def test_valid_levels_map_to_thresholds():
    assert [levels_to_thresholds(d) for d in VALID_LEVELS] == list(range(1, 9))


def test_relu_unet_is_unchanged_by_the_activation_table():
    torch.manual_seed(0)
    unet = UNet(UNetConfig(1, 1, 4, 2))
    x = torch.rand(2, 1, 16, 16)
    h = unet.enc[0](x)
    ref = torch.relu(unet.enc[0].conv2(torch.relu(unet.enc[0].conv1(x))))
    torch.testing.assert_close(h, ref)
    assert not hasattr(unet, "ilif")


def _ilif_unet(seed, depth, width, levels, chans, residual):
    torch.manual_seed(seed)
    cfg = UNetConfig(
        chans[0], chans[1], width, depth, head_kernel=3 if residual else 1,
        residual=residual, activation="ilif", levels=levels,
    )  # fmt: skip
    unet = UNet(cfg)
    side = 4 * 2**depth
    x = torch.rand(2, chans[0], side, side)
    calibrate_thetas(unet, [x], percentile=99.0)
    unet.eval()
    return unet, x, side


CASES = [
    # seed, depth, width, levels, channels, residual
    (0, 1, 3, 15, (1, 1), True),
    (1, 2, 4, 15, (1, 1), True),
    (2, 2, 3, 7, (3, 2), False),
    (3, 3, 2, 63, (3, 3), True),
    (4, 1, 4, 1, (1, 2), False),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"seed{c[0]}-d{c[1]}-D{c[3]}")
def test_conversion_has_no_error_at_one_timestep(case):
    """The float T = 1 Spiking-UNet computes the I-LIF U-Net (to float rounding)."""
    unet, x, side = _ilif_unet(*case)
    graph = convert_ilif(unet, side, side)
    assert graph.meta.timesteps == 1
    assert frame_steps(graph) == pipeline_depth(graph) + 1
    with torch.no_grad():
        want = unet(x).double()
    got = simulate(graph, x, quantized=False, timesteps=1).y
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"seed{c[0]}-d{c[1]}-D{c[3]}")
def test_integer_reference_equals_the_integer_ilif_network(case):
    """Quantized: the reference at T = 1 == the I-LIF net with the quantized weights."""
    unet, x, side = _ilif_unet(*case)
    q = quantize_graph(convert_ilif(unet, side, side), "loihi2", calib=x)
    current = input_current(q, x.numpy())
    ref = simulate(q, current=current, record_spikes=True)
    net = integer_ilif_forward(q, current)
    assert torch.equal(ref.acc, net[q.readout_name])
    fired = 0
    for name in q.neurons():
        k = ref.spikes[name][ref.start[name]].to(torch.int64)  # the node's one window step
        assert torch.equal(k, net[name]), name
        fired += int(k.sum())
    assert fired > 0


@pytest.mark.parametrize("form", ["virtual", "graded"])
def test_synop_penalty_lowers_synops_on_a_fixed_batch(form):
    torch.manual_seed(0)
    x = torch.rand(4, 1, 16, 16)
    target = torch.rand(4, 1, 16, 16) * 0.1

    def fit(weight: float) -> float:
        torch.manual_seed(1)
        unet = UNet(UNetConfig(1, 1, 4, 2, activation="ilif", levels=15, residual=True))
        calibrate_thetas(unet, [x])
        opt = torch.optim.Adam(unet.parameters(), lr=3e-3)
        record_counts(unet)
        for _ in range(40):
            loss = torch.mean((unet(x) - target) ** 2)
            loss = loss + weight * synops_per_mac(unet, form)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return synop_rates(unet, x)[form]

    plain, penalized = fit(0.0), fit(0.05 if form == "virtual" else 0.5)
    assert penalized < 0.7 * plain, (plain, penalized)


def test_penalty_values_match_the_forms():
    unet, x, _ = _ilif_unet(1, 2, 4, 15, (1, 1), True)
    record_counts(unet)
    with torch.no_grad():
        unet(x)
        virtual, graded = synops_per_mac(unet, "virtual"), synops_per_mac(unet, "graded")
    rates = synop_rates(unet, x)
    assert float(virtual) == pytest.approx(rates["virtual"], rel=1e-5)
    assert 0.5 * rates["graded"] <= float(graded) <= rates["graded"]
    with pytest.raises(ValueError, match="penalty form"):
        synops_per_mac(unet, "cascade")


def test_synop_rates_match_a_brute_force_count():
    unet, x, _ = _ilif_unet(1, 2, 4, 15, (1, 1), True)
    rates = synop_rates(unet, x)
    fan = fanouts(unet)
    record_counts(unet)
    with torch.no_grad():
        unet(x)
    graded = cascade = virtual = 0
    for key, mod in unet.ilif.items():
        k = mod.counts.to(torch.int64).flatten().tolist()
        f = fan[key.replace("_", ".")]
        graded += f * sum(1 for v in k if v)
        cascade += f * sum(bin(v).count("1") for v in k)
        virtual += f * sum(k)
    macs = unet.count_macs(x.shape[-2], x.shape[-1]) * x.shape[0]
    assert rates["graded"] == pytest.approx(graded / macs)
    assert rates["cascade"] == pytest.approx(cascade / macs)
    assert rates["virtual"] == pytest.approx(virtual / macs)
    assert rates["graded"] <= rates["cascade"] <= rates["virtual"]


@pytest.mark.lava
@pytest.mark.slow
@pytest.mark.parametrize("form", ["graded", "cascade"])
def test_lava_runs_the_ilif_network_bit_for_bit(form, no_leftover_processes):
    from lava_spikingunet.backends.lava_network import run_lava

    unet, x, side = _ilif_unet(2, 2, 3, 7, (3, 2), False)
    q = quantize_graph(convert_ilif(unet, side, side), "loihi2", calib=x)
    current = input_current(q, x.numpy())
    ref = simulate(q, current=current, record_spikes=True)
    res = run_lava(q, current, form=form, record=True)
    np.testing.assert_array_equal(res.acc, ref.acc.numpy())
    flen = frame_steps(q)
    for name in q.neurons():
        want = ref.spikes[name].numpy()
        got = res.spikes[name].reshape(x.shape[0], flen, *want.shape[2:]).swapaxes(0, 1)
        np.testing.assert_array_equal(got, want, err_msg=name)


# --------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    from lava_spikingunet.data.synthetic import make_synthetic_datasets

    return make_synthetic_datasets(tmp_path_factory.mktemp("data"))


def _tiny(steps=4, **kw):
    from lava_spikingunet.training import TrainOptions

    return TrainOptions(
        task="denoise-grey", width=4, depth=2, steps=steps, batch=2, patch=16, warmup=1,
        eval_every=2, checkpoint_every=2, activation="ilif", levels=15, **kw,
    )  # fmt: skip


def test_ilif_training_from_scratch_resumes_identically(tmp_path, syn):
    from lava_spikingunet.checkpoints import load_checkpoint
    from lava_spikingunet.training import train

    kw = dict(data_root=syn, threads=1, progress=False)
    train(_tiny(steps=5, sparsity=1e-3), tmp_path / "a", **kw)
    train(_tiny(steps=5, sparsity=1e-3), tmp_path / "b", stop_at=2, **kw)
    train(_tiny(steps=5, sparsity=1e-3), tmp_path / "b", resume=True, **kw)
    a = load_checkpoint(tmp_path / "a" / "final.pt")["state_dict"]
    b = load_checkpoint(tmp_path / "b" / "final.pt")["state_dict"]
    assert any(k.startswith("ilif.") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_cli_quantization_aware_fine_tuning_then_exact_conversion(tmp_path, syn, capsys):
    from lava_spikingunet.checkpoints import load_unet
    from lava_spikingunet.cli import main
    from lava_spikingunet.graph.serialize import load_graph

    common = ["--data-root", str(syn), "--width", "4", "--depth", "2", "--batch", "2",
              "--patch", "16", "--warmup", "1", "--eval-every", "2", "--threads", "1",
              "--no-progress"]  # fmt: skip
    assert main(["train", "denoise-grey", "--out", str(tmp_path / "f"), "--steps", "2",
                 *common]) == 0  # fmt: skip
    init = tmp_path / "f" / "final.pt"
    assert main(["train", "denoise-grey", "--out", str(tmp_path / "q"), "--steps", "2",
                 "--activation", "ilif", "--levels", "7", "--sparsity", "0.01",
                 "--init", str(init), *common]) == 0  # fmt: skip
    ilif, meta = load_unet(tmp_path / "q" / "final.pt")
    assert ilif.config.activation == "ilif" and ilif.config.levels == 7
    assert meta["train"]["options"]["init"] == str(init)
    # bad levels and a mismatched warm start are refused by name
    assert main(["train", "denoise-grey", "--out", str(tmp_path / "x"), "--steps", "2",
                 "--activation", "ilif", "--levels", "4", *common]) == 2  # fmt: skip
    assert "2^N - 1" in capsys.readouterr().err
    bad = [a if a != "4" else "6" for a in common]  # width 6 vs the width-4 init
    assert main(["train", "denoise-grey", "--out", str(tmp_path / "y"), "--steps", "2",
                 "--init", str(init), *bad]) == 2  # fmt: skip
    assert "does not fit" in capsys.readouterr().err
    # convert: exact, T = 1, no calibration data needed beyond the task's metadata
    out = tmp_path / "snn.pt"
    assert main(["convert", str(tmp_path / "q" / "final.pt"), "--out", str(out),
                 "--data-root", str(syn), "--frame", "16x16", "--no-progress"]) == 0  # fmt: skip
    graph = load_graph(out)
    assert graph.meta.timesteps == 1
    assert graph.node(graph.neurons()[0]).n_thresholds == 3
    assert main(["convert", str(tmp_path / "q" / "final.pt"), "--out", str(tmp_path / "t.pt"),
                 "--data-root", str(syn), "--T", "4", "--no-progress"]) == 2  # fmt: skip
