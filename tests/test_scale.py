"""Scale (#15): the Lava memory estimate, its refusal, and the channel depth it assumes."""

from __future__ import annotations

import numpy as np
import pytest
from test_tiling import random_graph

from lava_spikingunet.errors import ResourceLimitError
from lava_spikingunet.limits import check_lava_memory, estimate_lava_memory


def test_an_impossible_lava_run_is_refused_by_name_with_the_figure_and_the_fix(monkeypatch):
    import lava_spikingunet.limits as limits

    graph = random_graph(0, 2, 4, 3, (1, 1), 32, False).resized(4096, 4096)
    est = estimate_lava_memory(graph)
    monkeypatch.setattr(limits, "available_memory", lambda: 24 << 30)
    monkeypatch.setattr(limits, "available_shm", lambda: 12 << 30)
    assert est.total > 24 << 30
    with pytest.raises(ResourceLimitError, match=r"4096x4096.*GiB.*--tile"):
        check_lava_memory(graph)
    small = random_graph(0, 2, 4, 3, (1, 1), 32, False)
    assert check_lava_memory(small).total < 2 << 30  # the same graph at 32x32 fits


def test_channel_memory_grows_with_the_frame_and_the_form():
    graph = random_graph(1, 2, 4, 4, (1, 1), 32, False)
    a = estimate_lava_memory(graph.resized(64, 64))
    b = estimate_lava_memory(graph.resized(128, 128))
    assert b.shm == 4 * a.shm and b.private > a.private
    cascade = estimate_lava_memory(graph.resized(64, 64), "cascade")
    # N bool maps per spike edge instead of one byte, but one process per layer as graded
    # (the stages run inside the layer's process: no per-stage processes or residual loop)
    assert cascade.shm > a.shm and cascade.processes == a.processes
    deep = estimate_lava_memory(graph.resized(64, 64), channel_depth=64)
    assert deep.shm == 64 * a.shm


@pytest.mark.lava
@pytest.mark.parametrize("form", ["graded", "cascade", "virtual"])
def test_the_estimate_counts_exactly_the_channels_lava_builds(form):
    """Compile (no workers start) and read the channel builders back: every data channel
    is one message deep, and their bytes are the estimate's shared memory."""
    from lava.magma.core.run_configs import Loihi2SimCfg

    from lava_spikingunet.backends.lava.channels import (
        DATA_CHANNEL_DEPTH,
        channel_report,
        compile_config,
        set_channel_depths,
    )
    from lava_spikingunet.backends.lava_network import build
    from lava_spikingunet.reference.input_current import input_current

    graph = random_graph(2, 2, 3, 3, (1, 1), 16, True)
    x = np.random.default_rng(2).uniform(0, 1, (1, 1, 16, 16))
    import tempfile

    with tempfile.TemporaryDirectory() as probe_dir:
        built = build(graph, input_current(graph, x), form, probe_dir=probe_dir)
        exe = built.root.compile(Loihi2SimCfg(select_tag="fixed_pt"), compile_config())
        assert set_channel_depths(exe) > 0
        channels = channel_report(exe)
    assert {c.depth for c in channels} == {DATA_CHANNEL_DEPTH}
    assert sum(c.nbytes for c in channels) == estimate_lava_memory(graph, form).shm


def test_loihi2_mapping_limits_input_axons_per_core_with_a_marked_estimate():
    """Loihi 2 publishes no fan-in limit: the mapping uses the estimate (Loihi 1's 4096),
    says so, and keeps every core under it; without a limit the wide layers need fewer,
    impossible cores."""
    from lava_spikingunet.hw.mapping import FANIN_AXONS_ESTIMATE, map_graph
    from lava_spikingunet.hw.profiles import load_profile

    graph = random_graph(3, 2, 32, 4, (1, 1), 64, False)  # 128 channels at the bottom
    prof = load_profile("loihi2")
    assert prof.core.max_fanin_axons is None
    m = map_graph(graph, prof, "graded")
    s = m.summary()
    assert s["fanin_limit"] == FANIN_AXONS_ESTIMATE and s["fanin_limit_estimated"]
    worst = max(u.fanin_axons for lay in m.layers for u in lay.cores)
    assert worst <= FANIN_AXONS_ESTIMATE
    free = map_graph(graph, prof, "graded", fanin_limit=10**9)
    assert max(u.fanin_axons for lay in free.layers for u in lay.cores) > FANIN_AXONS_ESTIMATE
    assert free.cores < m.cores and not free.summary()["fanin_limit_estimated"]


def test_probe_folders_of_killed_runs_are_swept(tmp_path, monkeypatch):
    """A SIGKILLed CLI cannot remove its probe folder: the next run removes folders of
    processes that no longer exist, and only those (#16)."""
    import os
    import tempfile

    from lava_spikingunet.backends.lava.runner import PROBE_PREFIX, probe_dir

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / f"{PROBE_PREFIX}{2**22 + 12345}-abc"  # above pid_max: never alive
    alive = tmp_path / f"{PROBE_PREFIX}{os.getppid()}-abc"
    other = tmp_path / "unrelated-123-abc"
    for d in (dead, alive, other):
        d.mkdir()
        (d / "0-x.bin").write_bytes(b"0")
    with probe_dir() as p:
        assert os.path.isdir(p) and str(os.getpid()) in os.path.basename(p)
    assert not dead.exists() and alive.exists() and other.exists()
    assert not os.path.exists(p)
