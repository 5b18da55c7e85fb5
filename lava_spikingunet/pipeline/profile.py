"""Profile: spikes, synaptic ops, energy and core mapping of a model on one frame.

Runs the integer reference on the frame (recording every layer's spike counts at every
step; float units for an unquantized model), counts synaptic ops exactly (spikes x
fan-out, border effects included) in every neuron form from the same counts, and maps
the network onto the profile's cores. docs/profiling.md defines every number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lava_spikingunet.errors import InputError, SpikingUNetError

if TYPE_CHECKING:
    from lava_spikingunet.graph.ir import SpikingGraph
    from lava_spikingunet.profiling.record import Recording

__all__ = ["Profile", "map_forms", "profile", "record"]


@dataclass
class Profile:
    """``report``: the profile as a JSON-ready dict (``profiling.report.build_report``);
    ``recording``: the spike counts it was made from; ``frame``: the padded input."""

    report: dict
    recording: Recording
    frame: Any
    forms: tuple[str, ...]


def record(
    graph: SpikingGraph, frame: Any, delays: str = "graph", timesteps: int | None = None
) -> tuple[Recording, Any]:
    """Run the reference on ``frame`` ``(C, H, W)`` with ``delays``, recording every layer's
    counts; returns the recording and the frame padded to a multiple of 2^depth."""
    import numpy as np
    import torch

    from lava_spikingunet.profiling.record import record_spikes
    from lava_spikingunet.reference.input_current import size_multiple
    from lava_spikingunet.reference.module import pad_frames, with_delays

    try:
        graph = with_delays(graph, delays)  # type: ignore[arg-type]
        x = torch.as_tensor(np.asarray(frame, dtype=np.float64))[None]
        xp, _ = pad_frames(x, size_multiple(graph))
        return record_spikes(graph, xp, timesteps), xp
    except ValueError as exc:
        raise InputError(str(exc)) from exc


def map_forms(graph: SpikingGraph, profile: Any, forms: tuple[str, ...], weights: str) -> dict:
    """The core mapping summary per form, or ``{"error": ...}`` where the form does not fit."""
    from lava_spikingunet.hw.mapping import map_graph

    out = {}
    for form in forms:
        try:
            out[form] = map_graph(graph, profile, form, weights).summary()
        except SpikingUNetError as exc:
            out[form] = {"error": str(exc)}
    return out


def profile(
    graph: SpikingGraph,
    frame: Any,
    hw: Any = "loihi2",
    form: str = "all",
    *,
    delays: str = "graph",
    timesteps: int | None = None,
    weights: str = "shared",
    nonzero: bool = False,
    meta: dict | None = None,
    tile: tuple[int, int] | None = None,
) -> Profile:
    """Profile ``graph`` on ``frame`` ``(C, H, W)`` for ``hw`` (a profile, name or path).

    ``form``: the neuron form(s) to map (one form, ``both`` or ``all``; counts are made
    for every form); ``weights``: the synaptic memory model of the mapping (``shared`` or
    ``dense``); ``nonzero``: count only synapses with a non-zero weight. ``tile``:
    profile the network built for ``(H, W)`` tiles on the frame's first tile, and add
    ``report["tiling"]`` (tiles per frame, tiles per second at the profile's step time).
    """
    from lava_spikingunet.hw.mapping import check_form, latency
    from lava_spikingunet.limits import check_timesteps
    from lava_spikingunet.neuron_forms import FORM_GROUPS, resolve_forms
    from lava_spikingunet.pipeline import as_profile
    from lava_spikingunet.profiling.report import build_report
    from lava_spikingunet.profiling.synops import count_synops

    prof = as_profile(hw)
    try:
        forms = resolve_forms(form)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    if form not in FORM_GROUPS:
        check_form(prof, form)
    if timesteps is not None:
        check_timesteps(timesteps, "T")
    plan = None
    if tile is not None:
        from lava_spikingunet.tiling import tile_frame

        frame, plan = tile_frame(graph, frame, tile)
    rec, xp = record(graph, frame, delays, timesteps)
    res = count_synops(rec.graph, rec.counts, nonzero=nonzero, timesteps=rec.timesteps)
    mappings = map_forms(rec.graph, prof, forms, weights)
    # the fan-in splits' partial-sum steps (the slowest mapped form's, where several are)
    split = max(
        (m.get("fanin_split", {}).get("extra_steps", 0) for m in mappings.values()), default=0
    )
    report = build_report(
        rec.graph,
        res,
        prof,
        mapping=mappings,
        latency=latency(rec.graph, prof, rec.timesteps, extra_steps=split),
        source=rec.source,
        meta={**(meta or {}), "delays": delays},
    )
    if plan is not None:
        from lava_spikingunet.tiling import tiling_summary

        report["tiling"] = tiling_summary(
            plan, latency(rec.graph, prof, rec.timesteps, extra_steps=split)
        )
    return Profile(report, rec, xp, forms)
