"""benchmarks/stream.py: the CamSeq01 stream through the sdnn form, and its held-out rows."""

from __future__ import annotations

import json

import pytest
from _video_cases import small_ilif_checkpoint


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    from lava_spikingunet.data.synthetic import make_synthetic_datasets

    return make_synthetic_datasets(tmp_path_factory.mktemp("data"))


def test_stream_reports_the_test_split_frames_apart(tmp_path, syn):
    from benchmarks.stream import main
    from lava_spikingunet.data.camseq import CamSeqSplit

    first = CamSeqSplit.test_start(syn)  # synthetic: 24 frames, the last 20 held out
    n = first + 2
    out = tmp_path / "out"
    out.mkdir()
    args = ["--frames", str(n), "--crop", "16", "16", "--vth", "1", "--lava-frames", "0",
            "--checkpoint", str(small_ilif_checkpoint(tmp_path / "n.pt")),
            "--data-root", str(syn), "--out-dir", str(out)]  # fmt: skip
    assert main(args) == 0
    r = json.loads((out / "stream.json").read_text())
    row = r["vth"][0]
    held = row["held_out"]
    assert held["frames"] == [first + 1, n]
    per_frame = row["synops_per_mac_per_frame"]
    assert held["synops_per_mac"] == pytest.approx(sum(per_frame[first:]) / (n - first))
    assert 0.0 <= held["miou"] <= 1.0 and 0.0 <= held["miou_static"] <= 1.0
    assert f"Held-out frames {first + 1}..{n}" in (out / "stream.md").read_text()


def test_stream_has_no_held_out_rows_before_the_test_split(tmp_path, syn):
    from benchmarks.stream import main
    from lava_spikingunet.data.camseq import CamSeqSplit

    n = CamSeqSplit.test_start(syn)
    out = tmp_path / "out"
    out.mkdir()
    args = ["--frames", str(n), "--crop", "16", "16", "--vth", "1", "--lava-frames", "0",
            "--checkpoint", str(small_ilif_checkpoint(tmp_path / "n.pt")),
            "--data-root", str(syn), "--out-dir", str(out)]  # fmt: skip
    assert main(args) == 0
    r = json.loads((out / "stream.json").read_text())
    assert "held_out" not in r["vth"][0]
    assert "Held-out" not in (out / "stream.md").read_text()
