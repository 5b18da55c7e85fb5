"""benchmarks/accuracy_vs_t: tables, figure and --combine on synthetic results."""

from __future__ import annotations

import json

import pytest

from benchmarks import accuracy_vs_t as A


def _result(task: str, images: int | None = 2) -> dict:
    rows = [
        {"series": s, "T": t, "value": v, "metrics": {"f1": v}, "seconds": 0.1}
        for s, off in (("deploy float", 0.0), ("deploy integer", -0.01), ("paper float", -0.3))
        for t, v in ((2, 0.7 + off), (10, 0.8 + off))
    ]
    return {
        "meta": {"images": images},
        "tasks": {task: {"metric": "f1", "unet": {"f1": 0.81}, "rows": rows}},
    }


def test_markdown_lists_every_series_and_gap():
    md = A.markdown(_result("drive"))
    assert "## drive (f1; U-Net 0.8100)" in md
    assert "| deploy integer | 0.6900 (-0.1200) | 0.7900 (-0.0200) |" in md
    assert "first 2 test images" in md


def test_combine_writes_one_result(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.json").write_text(json.dumps(_result(f"task_{name}")))
    out = tmp_path / "out"
    argv = ["--combine", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--images", "2"]
    assert A.main([*argv, "--out-dir", str(out)]) == 0
    combined = json.loads((out / "accuracy_vs_t.json").read_text())
    assert sorted(combined["tasks"]) == ["task_a", "task_b"]
    assert (out / "accuracy_vs_t.png").stat().st_size > 0
    # a part made on another image count is refused, not mixed in
    (tmp_path / "c.json").write_text(json.dumps(_result("task_c", images=None)))
    with pytest.raises(SystemExit, match="images"):
        A.main(["--combine", str(tmp_path / "c.json"), "--images", "2", "--out-dir", str(out)])
