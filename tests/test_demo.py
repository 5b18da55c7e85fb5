"""`spikingunet demo` end to end on the shipped denoiser (small frame to stay quick)."""

from __future__ import annotations

import json

import pytest

from lava_spikingunet import cli
from lava_spikingunet.demo import DEFAULT_MODEL, add_noise, bundled_image

pytestmark = [pytest.mark.lava, pytest.mark.slow]


def test_bundled_image_and_noise_are_deterministic():
    clean = bundled_image(32)
    assert clean.shape == (1, 32, 32) and 0 <= clean.min() and clean.max() <= 1
    a, b = add_noise(clean, 25, seed=3), add_noise(clean, 25, seed=3)
    assert (a == b).all() and abs((a - clean).std() - 25 / 255) < 0.02


def test_demo_is_bit_exact_and_denoises(tmp_path, capsys, no_leftover_processes):
    if not DEFAULT_MODEL.is_file():
        pytest.skip(f"shipped model {DEFAULT_MODEL} absent")
    out = tmp_path / "demo"
    assert cli.main(["demo", "--out", str(out), "--size", "64"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["bit_exact"]
    assert summary["psnr_lava"] > summary["psnr_noisy"] + 3
    assert (out / "demo.png").stat().st_size > 10_000
    assert "bit-exact Lava vs integer reference: YES" in capsys.readouterr().out
    # a second run refuses to overwrite
    assert cli.main(["demo", "--out", str(out), "--size", "64"]) == 2


def test_demo_without_model_says_where_it_should_be(tmp_path, capsys):
    code = cli.main(["demo", "--model", str(tmp_path / "none.h5"), "--out", str(tmp_path)])
    assert code == 2 and "not found" in capsys.readouterr().err
