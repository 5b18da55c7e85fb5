"""benchmarks/stream_vth_search.py: the greedy per-layer threshold search (float emulation)."""

from __future__ import annotations

import json

import pytest
from _video_cases import small_ilif_checkpoint


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    from lava_spikingunet.data.synthetic import make_synthetic_datasets

    return make_synthetic_datasets(tmp_path_factory.mktemp("data"))


@pytest.mark.parametrize("budget", [10.0, -10.0])
def test_search_takes_the_largest_threshold_within_budget_and_none_beyond(tmp_path, syn, budget):
    from benchmarks.stream_vth_search import main

    ck = small_ilif_checkpoint(tmp_path / "n.pt")
    out = tmp_path / "out"
    out.mkdir()
    args = [str(ck), "--frames", "4", "--tune-frames", "3", "--crop", "16", "16",
            "--candidates", "1", "0.5", "--budget", str(budget), "--data-root", str(syn),
            "--out-dir", str(out)]  # fmt: skip
    assert main(args) == 0
    r = json.loads((out / "stream_vth_search.json").read_text())
    chosen = set(r["layer_vth"].values())
    if budget > 0:  # anything goes: every layer takes the largest candidate
        assert chosen == {1.0}
        assert all(s["kept"] for s in r["steps"])
    else:  # nothing is good enough: every layer keeps the base
        assert chosen == {0.125}
        assert not any(s["kept"] for s in r["steps"][1:])
    per = r["all_frames"]["layer_vth"]["per_point"]
    assert sum(per.values()) == pytest.approx(r["all_frames"]["layer_vth"]["synops_per_mac"])
    assert "Per-layer delta thresholds" in (out / "stream_vth_search.md").read_text()
