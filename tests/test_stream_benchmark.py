"""benchmarks/stream.py: the CamSeq01 stream through the sdnn form, and its held-out rows."""

from __future__ import annotations

import json

import pytest
from _video_cases import small_ilif_checkpoint


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    from lava_spikingunet.data.synthetic import make_synthetic_datasets

    return make_synthetic_datasets(tmp_path_factory.mktemp("data"))


def _stream(tmp_path, syn, frames: int) -> tuple[dict, str]:
    """``benchmarks.stream`` on the first ``frames`` synthetic frames at vth 1: (json, md)."""
    from benchmarks.stream import main

    out = tmp_path / "out"
    out.mkdir()
    args = ["--frames", str(frames), "--crop", "16", "16", "--vth", "1", "--lava-frames",
            "0", "--checkpoint", str(small_ilif_checkpoint(tmp_path / "n.pt")),
            "--data-root", str(syn), "--out-dir", str(out)]  # fmt: skip
    assert main(args) == 0
    return json.loads((out / "stream.json").read_text()), (out / "stream.md").read_text()


def test_stream_reports_the_test_split_frames_apart(tmp_path, syn):
    from lava_spikingunet.data.camseq import CamSeqSplit

    first = CamSeqSplit.test_start(syn)  # synthetic: 24 frames, the last 20 held out
    n = first + 2
    r, md = _stream(tmp_path, syn, n)
    row = r["vth"][0]
    held = row["held_out"]
    assert held["frames"] == [first + 1, n]
    per_frame = row["synops_per_mac_per_frame"]  # the last frame's window holds the drain
    last_step = held["synops_per_mac"] * (n - first) - sum(per_frame[first:-1])
    assert -1e-12 <= last_step < per_frame[-1]  # the last frame's own step, without the drain
    assert 0.0 <= held["miou"] <= 1.0 and 0.0 <= held["miou_static"] <= 1.0
    assert set(r["networks_held_out"]) == set(r["networks"])
    assert f"Held-out frames {first + 1}..{n}" in md


def test_stream_has_no_held_out_rows_before_the_test_split(tmp_path, syn):
    from lava_spikingunet.data.camseq import CamSeqSplit

    r, md = _stream(tmp_path, syn, CamSeqSplit.test_start(syn))
    assert "held_out" not in r["vth"][0] and not r["networks_held_out"]
    assert "Held-out" not in md


def test_layer_map_is_scaled_to_each_row(tmp_path, syn):
    """A row at vth v uses the map times v / base: a map equal to base everywhere it
    names changes nothing at any row; a map above it costs fewer synops."""
    from benchmarks.stream import main

    ck = str(small_ilif_checkpoint(tmp_path / "n.pt"))

    def rows(name: str, table: dict | None) -> list[dict]:
        out = tmp_path / name
        out.mkdir()
        args = ["--frames", "3", "--crop", "16", "16", "--vth", "0.5", "1",
                "--lava-frames", "0", "--checkpoint", ck, "--data-root", str(syn),
                "--out-dir", str(out)]  # fmt: skip
        if table is not None:
            (out / "map.json").write_text(json.dumps(table))
            args += ["--layer-vth", str(out / "map.json")]
        assert main(args) == 0
        return json.loads((out / "stream.json").read_text())["vth"]

    uniform = rows("uniform", None)
    same = rows("same", {"meta": {"base": 0.25}, "layer_vth": {"enc0.c1": 0.25, "enc1.c1": 0.25}})
    higher = rows("higher", {"enc0.c1": 8.0, "enc1.c1": 8.0})  # plain map: base 1
    for u, s, h in zip(uniform, same, higher, strict=True):
        assert s["synops_per_mac_rest"] == u["synops_per_mac_rest"]
        assert s["vth_message_units"] == u["vth_message_units"]
        assert h["synops_per_mac_rest"] < u["synops_per_mac_rest"]
