"""``spikingunet deploy``: validation, mapping summary, clean failure without lava-loihi."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lava_spikingunet.ann.unet import UNet, UNetConfig
from lava_spikingunet.cli import main
from lava_spikingunet.commands import deploy
from lava_spikingunet.graph.from_unet import unet_to_graph
from lava_spikingunet.pipeline import deploy as deploy_stage


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A quantized model as netx .h5 and .pt, an unquantized .pt, and an image."""
    from PIL import Image

    from lava_spikingunet.backends.netx import export_netx
    from lava_spikingunet.fixed_point.quantize import quantize_graph
    from lava_spikingunet.graph.serialize import save_graph

    d = tmp_path_factory.mktemp("deploy")
    torch.manual_seed(0)
    unet = UNet(UNetConfig(in_channels=1, out_channels=1, base_width=4, depth=2, residual=True))
    g = unet_to_graph(unet, 8, 8, timesteps=4)
    q = quantize_graph(g, "loihi2")
    export_netx(q, d / "m.h5")
    save_graph(d / "q.pt", q)
    save_graph(d / "float.pt", g)
    img = (np.random.default_rng(0).random((8, 8)) * 255).astype(np.uint8)
    Image.fromarray(img).save(d / "img.png")
    return d


def test_lava_loihi_not_installed_here():
    if deploy_stage.lava_loihi_available():
        pytest.skip("lava-loihi is installed in this environment")
    assert not deploy_stage.lava_loihi_available()


def test_deploy_without_lava_loihi_fails_cleanly(models, capsys, monkeypatch):
    monkeypatch.setattr(deploy_stage, "lava_loihi_available", lambda: False)
    rc = main(["deploy", str(models / "m.h5"), "--hw", "loihi2"])
    out, err = capsys.readouterr()
    assert rc != 0
    assert "fits loihi2" in out and "cores on 1 chip" in out and "latency" in out
    assert "lava-loihi is not installed" in err and "INRC" in err
    assert "spikingunet simulate" in err and "--backend lava" in err
    assert "Traceback" not in err + out


def test_check_only_succeeds(models, capsys):
    assert main(["deploy", str(models / "q.pt"), "--check-only"]) == 0
    assert main(["deploy", str(models / "m.h5"), "--hw", "loihi1", "--form", "cascade",
                 "--check-only"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "loihi1, cascade form" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--hw", "loihi1"], "no graded spikes"),
        (["--hw", "no_such_chip"], "unknown hardware profile"),
    ],
)
def test_deploy_refusals(models, capsys, argv, message):
    rc = main(["deploy", str(models / "m.h5"), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err


def test_deploy_bad_models(models, capsys):
    assert main(["deploy", str(models / "float.pt")]) == 2
    assert "not quantized" in capsys.readouterr().err
    assert main(["deploy", str(models / "missing.h5")]) == 2
    (models / "junk.h5").write_bytes(b"not hdf5")
    assert main(["deploy", str(models / "junk.h5")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_deploy_board_paths_never_trace(models, capsys, monkeypatch):
    """With lava-loihi 'present': no image is refused, a failing board run is reported."""
    monkeypatch.setattr(deploy_stage, "lava_loihi_available", lambda: True)
    assert main(["deploy", str(models / "m.h5")]) == 2
    assert "pass --image" in capsys.readouterr().err

    def broken(*_a, **_k):
        raise RuntimeError("no board reachable")

    monkeypatch.setattr("lava_spikingunet.backends.lava_network.run_lava", broken)
    rc = main(["deploy", str(models / "m.h5"), "--image", str(models / "img.png")])
    err = capsys.readouterr().err
    assert rc == 2 and "run on loihi2 failed" in err and "no board reachable" in err
    assert "Traceback" not in err


def test_deploy_help_is_fast_and_clean(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["deploy", "--help"])
    assert exc.value.code == 0
    assert "--check-only" in capsys.readouterr().out


@pytest.mark.lava
@pytest.mark.slow
def test_board_path_end_to_end_on_the_simulator(models, capsys, monkeypatch, no_leftover_processes):
    """The board path with Loihi2SimCfg standing in for Loihi2HwCfg: same readout as the
    integer reference."""
    from lava.magma.core.run_configs import Loihi2SimCfg

    from lava_spikingunet.backends.lava_network import run_lava
    from lava_spikingunet.backends.netx import load_netx
    from lava_spikingunet.data.frames import load_input
    from lava_spikingunet.reference.input_current import input_current
    from lava_spikingunet.reference.simulator import simulate

    q = load_netx(models / "m.h5")
    current = input_current(q, load_input(models / "img.png", 1)[None])
    acc = run_lava(q, current, "graded", run_cfg=Loihi2SimCfg(select_tag="fixed_pt")).acc
    np.testing.assert_array_equal(acc, simulate(q, current=current).acc.numpy())

    monkeypatch.setattr(deploy_stage, "lava_loihi_available", lambda: True)
    monkeypatch.setattr(deploy, "hw_run_config", lambda _: Loihi2SimCfg(select_tag="fixed_pt"))
    rc = main(["deploy", str(models / "m.h5"), "--image", str(models / "img.png")])
    assert rc == 0 and "ran on loihi2: readout y in" in capsys.readouterr().out
