"""Stream-aware I-LIF training (lava_spikingunet.ann.delta): the sdnn stream's
send-on-change in the loop, its message cost, and the training option around it."""

from __future__ import annotations

import pytest
import torch
from _video_cases import ILIF_ARGS, small_ilif_net, tiny_camseq_train_args

from lava_spikingunet.ann.delta import attach_delta, stream_loss
from lava_spikingunet.ann.ilif import fanouts, ilif_points
from lava_spikingunet.ann.unet import UNet, UNetConfig

_net = small_ilif_net


def _inputs(unet, x):
    """The input of every I-LIF point on ``x`` (plain I-LIF forward), by point name."""
    got = {}
    hooks = [
        m.register_forward_hook(lambda m, i, o, n=n: got.__setitem__(n, i[0].detach()))
        for n, m in ilif_points(unet).items()
    ]
    with torch.no_grad():
        unet(x)
    for h in hooks:
        h.remove()
    return got


@pytest.mark.parametrize("vth", [1e-9, 0.5])
def test_static_mode_is_a_frame_alone_from_reset(vth):
    unet, x = _net()
    stream = attach_delta(unet, vth)
    stream.static = True
    with torch.no_grad():
        unet(x.flip(-1))  # an earlier frame leaves nothing behind
        y = unet(x)
    stream.remove()
    # the same network with every I-LIF point replaced by the unrounded ReLU whose
    # activations below vth counts (nothing sent from reset) are zero
    for m in ilif_points(unet).values():

        def dead_zone(m, i, o):
            a = torch.relu(i[0]) / m.theta.detach()
            return torch.where(a >= vth, a, 0 * a) * m.theta.detach()

        m.register_forward_hook(dead_zone)
    with torch.no_grad():
        assert torch.allclose(y, unet(x), rtol=1e-5, atol=1e-6)


def test_gate_holds_changes_below_vth_and_sends_the_rest():
    unet, x = _net(1)
    vth = 0.75
    stream = attach_delta(unet, vth)
    x2 = x + 0.05 * torch.randn_like(x)
    with torch.no_grad():
        unet(x)
        first = {n: s.clone() for n, s in stream.sent.items()}
        unet(x2)
    # the first point sees the host input directly: its gate can be checked by hand
    u2 = _inputs(unet, x2)["enc0.c1"]  # the input of enc0.c1 does not depend on the gate
    theta = ilif_points(unet)["enc0.c1"].theta.detach()
    a2 = torch.relu(u2) / theta
    prev = first["enc0.c1"]
    expect = torch.where((a2 - prev).abs() >= vth, a2, prev)
    assert torch.allclose(stream.sent["enc0.c1"], expect, atol=1e-6)
    # and on frame 1 (from reset) only activations of at least vth were sent
    a1 = torch.relu(_inputs(unet, x)["enc0.c1"]) / theta
    assert torch.allclose(first["enc0.c1"], torch.where(a1 >= vth, a1, 0 * a1), atol=1e-6)
    stream.remove()


def test_message_cost_is_fanout_times_sent_elements():
    unet, x = _net(2)
    macs = unet.count_macs(16, 16)  # (a forward: before the stream is attached)
    stream = attach_delta(unet, 0.25)
    fan = fanouts(unet)
    with torch.no_grad():
        unet(x)
        prev = {n: s.clone() for n, s in stream.sent.items()}
        unet(x.flip(-1))
    total = 0
    for n, s in stream.sent.items():
        total += fan[n] * int((s != prev[n]).sum())
    assert stream.synops_per_mac().item() == pytest.approx(total / (2 * macs), rel=1e-6)
    # the same frame again: nothing changes, nothing is sent
    with torch.no_grad():
        unet(x.flip(-1))
    assert stream.synops_per_mac().item() == 0.0
    stream.remove()


def test_the_penalty_lowers_the_message_cost_on_a_fixed_clip():
    unet, x = _net(3)
    unet.train()
    stream = attach_delta(unet, 0.2)
    clips = torch.stack([x, x + 0.1 * torch.randn_like(x), x + 0.2 * torch.randn_like(x)], 1)
    labels = torch.randint(0, 4, (2, 3, 16, 16))
    opt = torch.optim.Adam(unet.parameters(), lr=3e-3)
    rates = []
    for _ in range(25):
        loss, rate = stream_loss(unet, stream, clips, labels, ignore_index=99, penalty=50.0)
        rates.append(rate)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert rates[-1] < 0.7 * rates[0]


def test_remove_gives_back_the_ilif_forward():
    unet, x = _net(4)
    with torch.no_grad():
        before = unet(x)
    stream = attach_delta(unet, 1.0)
    with torch.no_grad():
        unet(x)
    stream.remove()
    with torch.no_grad():
        assert torch.equal(unet(x), before)


def test_attach_refuses_a_relu_unet_and_a_bad_vth():
    with pytest.raises(ValueError, match="I-LIF"):
        attach_delta(UNet(UNetConfig(3, 4, 4, 2)), 1.0)
    unet, _ = _net()
    with pytest.raises(ValueError, match="vth"):
        attach_delta(unet, 0.0)


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    from lava_spikingunet.data.synthetic import make_synthetic_datasets

    return make_synthetic_datasets(tmp_path_factory.mktemp("data"))


def test_clips_are_consecutive_frames_of_one_window(syn):
    from lava_spikingunet.data.camseq import CamSeqClips, CamSeqSplit

    split = CamSeqSplit.load(syn, "train")
    clips = CamSeqClips(split, patch=16, frames=3, seed=0)
    clip, lab = clips[5]
    assert clip.shape == (3, 3, 16, 16) and lab.shape == (3, 16, 16)
    # every frame of the clip is a crop of consecutive frames at one window
    img = [torch.from_numpy(im).permute(2, 0, 1).double() / 255 for im in split.images]
    found = False
    for s in range(len(img) - 2):
        for y in range(img[0].shape[1] - 15):
            for xx in range(img[0].shape[2] - 15):
                ok = all(
                    torch.allclose(clip[k].double(), img[s + k][:, y : y + 16, xx : xx + 16])
                    or torch.allclose(
                        clip[k].double(), img[s + k][:, y : y + 16, xx : xx + 16].flip(-1)
                    )
                    for k in range(3)
                )
                found = found or ok
    assert found


def test_cli_stream_training_runs_and_refuses_what_it_cannot_do(tmp_path, syn, capsys):
    from lava_spikingunet.cli import main

    base, ilif = tiny_camseq_train_args(syn), ILIF_ARGS
    stream = ["--stream-vth", "1", "--stream-frames", "3", "--stream-penalty", "1"]
    assert main([*base, *ilif, *stream, "--out", str(tmp_path / "ok")]) == 0
    out = capsys.readouterr().out
    assert "stream-aware" in out and "stream messages" in out
    assert (tmp_path / "ok" / "final.pt").exists()
    assert main([*base, *stream, "--out", str(tmp_path / "relu")]) != 0
    assert "--activation ilif" in capsys.readouterr().err
    denoise = ["train", "denoise-grey", *base[2:], *ilif, *stream, "--out", str(tmp_path / "d")]
    assert main(denoise) != 0
    assert "video task" in capsys.readouterr().err


def test_warmup_frames_set_the_state_but_not_the_loss():
    import torch.nn.functional as F

    unet, x = _net(5)
    stream = attach_delta(unet, 0.3)
    clips = torch.stack([x + 0.05 * k * torch.randn_like(x) for k in range(4)], 1)
    labels = torch.randint(0, 4, (2, 4, 16, 16))
    loss, _ = stream_loss(unet, stream, clips, labels, ignore_index=99, warmup=2)
    stream.reset()
    with torch.no_grad():
        unet(clips[:, 0])
        unet(clips[:, 1])
        ce = [F.cross_entropy(unet(clips[:, t]), labels[:, t]) for t in (2, 3)]
    assert loss.item() == pytest.approx(torch.stack(ce).mean().item(), rel=1e-6)
    cold, _ = stream_loss(unet, stream, clips[:, 2:], labels[:, 2:], ignore_index=99)
    assert cold.item() != pytest.approx(loss.item(), rel=1e-6)
    with pytest.raises(ValueError, match="warmup"):
        stream_loss(unet, stream, clips, labels, ignore_index=99, warmup=3)


def test_cum_error_sends_a_lasting_change_below_vth_in_the_end():
    """Without cum_error a change below vth is held back for ever; with it the unsent
    change accumulates frame after frame and goes out, so a still input converges to the
    frame's fine result and frames after the first cost something."""
    unet, x = _net(6)
    fine_stream = attach_delta(unet, 1e-9)
    with torch.no_grad():
        unet(x.flip(-1))
        fine = unet(x)
    fine_stream.remove()
    gaps, later = {}, {}
    for cum in (False, True):
        stream = attach_delta(unet, 0.5, cum_error=cum)
        costs = []
        with torch.no_grad():
            unet(x.flip(-1))
            for _ in range(40):
                y = unet(x)
                costs.append(float(stream.synops_per_mac()))
        stream.remove()
        gaps[cum] = float((y - fine).abs().max())
        later[cum] = sum(costs[1:])
    assert later[False] == 0.0 and later[True] > 0.0
    assert gaps[True] < 0.5 * gaps[False]
