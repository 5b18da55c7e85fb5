"""The temporal-change penalty (lava_spikingunet.ann.temporal): frame pairs through the
plain I-LIF forward, the smooth count of changes weighted by fan-out, and its CLI."""

from __future__ import annotations

import pytest
import torch
from _video_cases import ILIF_ARGS, small_ilif_net, tiny_camseq_train_args

from lava_spikingunet.ann.ilif import fanouts, ilif_points
from lava_spikingunet.ann.temporal import attach_temporal, temporal_loss
from lava_spikingunet.ann.unet import UNet, UNetConfig

_net = small_ilif_net


def _pairs(x, noise: float):
    return torch.stack([x, x + noise * torch.randn_like(x)], 1)


def test_the_forward_is_the_ilif_forward_and_the_cost_is_fanout_weighted():
    unet, x = _net(1)
    clips = _pairs(x, 0.1)
    with torch.no_grad():
        plain = unet(clips.flatten(0, 1))
    acts = {}
    hooks = [
        m.register_forward_hook(
            lambda m, i, o, n=n: acts.__setitem__(n, torch.relu(i[0]) / m.theta.detach())
        )
        for n, m in ilif_points(unet).items()
    ]
    probe = attach_temporal(unet, 0.25)
    with torch.no_grad():
        y = unet(clips.flatten(0, 1))
        seen = dict(acts)  # the MAC count below runs a forward of its own
        cost = float(probe.synops_per_mac())
        active = float(probe.active_per_mac())
    for h in hooks:
        h.remove()
    assert torch.equal(y, plain)
    fan = fanouts(unet)
    by_hand = 0.0
    for name, a in seen.items():
        d = (a[1::2] - a[0::2]).abs()
        by_hand += fan[name] * float((d / (d + 0.25)).sum())
    by_hand /= 2 * unet.count_macs(16, 16)
    assert cost == pytest.approx(by_hand, rel=1e-5)
    assert cost > 0
    alone = sum(fan[n] * float((a / (a + 0.25)).sum()) for n, a in seen.items())
    assert active == pytest.approx(alone / (4 * unet.count_macs(16, 16)), rel=1e-5)
    assert active > cost


def test_identical_frames_cost_nothing_and_probe_leaves_the_output_alone():
    unet, x = _net(2)
    with torch.no_grad():
        before = unet(x)
    probe = attach_temporal(unet, 0.125)
    with torch.no_grad():
        same = unet(torch.stack([x, x], 1).flatten(0, 1))
        assert float(probe.synops_per_mac()) == 0.0
        assert torch.equal(same[0::2], before)
    probe.remove()
    with torch.no_grad():
        assert torch.equal(unet(x), before)


def test_the_penalty_lowers_the_change_cost_on_fixed_pairs():
    unet, x = _net(3)
    unet.train()
    probe = attach_temporal(unet, 0.2)
    clips = _pairs(x, 0.2)
    labels = torch.randint(0, 4, (2, 2, 16, 16))
    opt = torch.optim.Adam(unet.parameters(), lr=3e-3)
    rates = []
    for _ in range(25):
        loss, rate = temporal_loss(unet, probe, clips, labels, ignore_index=99, weight=50.0)
        rates.append(rate)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert rates[-1] < 0.7 * rates[0]


def test_refuses_a_relu_unet_a_bad_vth_and_odd_batches():
    with pytest.raises(ValueError, match="I-LIF"):
        attach_temporal(UNet(UNetConfig(3, 4, 4, 2)), 0.1)
    unet, x = _net()
    with pytest.raises(ValueError, match="vth"):
        attach_temporal(unet, 0.0)
    probe = attach_temporal(unet, 0.1)
    with pytest.raises(RuntimeError, match="no forward"):
        probe.synops_per_mac()
    with torch.no_grad():
        unet(torch.rand(3, 3, 16, 16))
    with pytest.raises(ValueError, match="pairs"):
        probe.synops_per_mac()
    with pytest.raises(ValueError, match="pairs"):
        temporal_loss(unet, probe, torch.rand(2, 3, 3, 16, 16), None, 99, 1.0)


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    from lava_spikingunet.data.synthetic import make_synthetic_datasets

    return make_synthetic_datasets(tmp_path_factory.mktemp("data"))


def test_cli_temporal_training_runs_and_refuses_what_it_cannot_do(tmp_path, syn, capsys):
    from lava_spikingunet.cli import main

    base, ilif = tiny_camseq_train_args(syn), ILIF_ARGS
    temporal = ["--temporal", "1", "--temporal-active", "0.5", "--temporal-vth", "0.25"]
    assert main([*base, *ilif, *temporal, "--out", str(tmp_path / "ok")]) == 0
    out = capsys.readouterr().out
    assert "temporal penalty 1: 1 pairs" in out and "frame-pair changes" in out
    assert (tmp_path / "ok" / "final.pt").exists()
    assert main([*base, *temporal, "--out", str(tmp_path / "relu")]) != 0
    assert "--activation ilif" in capsys.readouterr().err
    denoise = ["train", "denoise-grey", *base[2:], *ilif, *temporal, "--out", str(tmp_path / "d")]
    assert main(denoise) != 0
    assert "video task" in capsys.readouterr().err
    odd = [*base, *ilif, *temporal, "--out", str(tmp_path / "odd")]
    odd[odd.index("--batch") + 1] = "3"
    assert main(odd) != 0
    assert "pairs" in capsys.readouterr().err
    assert main([*base, *ilif, "--temporal-active", "1", "--out", str(tmp_path / "a")]) != 0
    assert "needs --temporal" in capsys.readouterr().err
    both = [*base, *ilif, *temporal, "--stream-vth", "1", "--out", str(tmp_path / "both")]
    assert main(both) != 0
    assert "exclude" in capsys.readouterr().err
