"""Verify: run Lava and the integer reference on the same frame and compare bit for bit.

Both get the same integer input current. Every neuron layer's spike counts at every
step and the readout accumulator are compared; mismatches are reported per layer and
step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from lava_spikingunet.errors import InputError
from lava_spikingunet.pipeline.outputs import layer_row

if TYPE_CHECKING:
    from lava_spikingunet.graph.ir import SpikingGraph

__all__ = ["compare", "prepare_frame", "verify", "verify_frame", "verify_runs"]


def compare(graph: SpikingGraph, ref: Any, lava: Any) -> dict:
    """Per-layer comparison of a reference result and a Lava result (one frame)."""

    layers = []
    for name in graph.neurons():
        want = ref.spikes[name].numpy()[:, 0]
        got = lava.spikes[name][: want.shape[0]]
        layers.append(layer_row(name, want, got))
    acc_diff = int((lava.acc[0] != ref.acc.numpy()[0]).sum())
    return {
        "form": lava.form,
        "identical": acc_diff == 0 and all(r["mismatches"] == 0 for r in layers),
        "readout_mismatches": acc_diff,
        "layers": layers,
        "lava_wall_s": round(lava.wall_s, 3),
    }


def verify_runs(
    graph: SpikingGraph,
    frame: Any,
    forms: Iterable[str],
    timeout: float = 120.0,
    progress: Callable[[str], None] | None = None,
) -> tuple[Any, list[tuple[dict, Any]]]:
    """Run the reference once and Lava in each form on ``frame`` ``(C, H, W)``, which must
    fit the graph's input, every layer recorded; returns the reference result and, per
    form, the :func:`compare` report with the Lava result it compared."""
    from lava_spikingunet.backends.lava_network import run_lava
    from lava_spikingunet.reference.input_current import input_current
    from lava_spikingunet.reference.simulator import simulate

    current = input_current(graph, frame[None])
    ref = simulate(graph, current=current, record_spikes=True)
    runs = []
    for form in forms:
        if progress:
            progress(f"Lava ({form} form)")
        lava = run_lava(graph, current, form=form, record=True, timeout=timeout)
        runs.append((compare(graph, ref, lava), lava))
    return ref, runs


def verify_frame(
    graph: SpikingGraph,
    frame: Any,
    forms: Iterable[str],
    timeout: float = 120.0,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """One :func:`compare` report per form (:func:`verify_runs` without the results)."""
    return [rep for rep, _ in verify_runs(graph, frame, forms, timeout, progress)[1]]


def prepare_frame(graph: SpikingGraph, frame: Any) -> tuple[SpikingGraph, Any]:
    """``frame`` padded (reflect) to a multiple of 2^depth, and ``graph`` resized to it."""
    import numpy as np

    from lava_spikingunet.reference.input_current import size_multiple

    frame = np.asarray(frame, dtype=np.float64)
    c, h, w = graph.node(graph.input_name).shape
    if frame.ndim != 3 or frame.shape[0] != c:
        raise InputError(f"expected a ({c}, H, W) frame, got shape {frame.shape}")
    m = size_multiple(graph)
    if frame.shape[1] % m or frame.shape[2] % m:
        import torch

        from lava_spikingunet.reference.module import pad_frames

        frame = pad_frames(torch.as_tensor(frame)[None], m)[0][0].numpy()
    if frame.shape[1:] != (h, w):
        graph = graph.resized(frame.shape[1], frame.shape[2])
    return graph, frame


def verify(
    graph: SpikingGraph,
    frame: Any,
    form: str | None = None,
    *,
    timeout: float = 120.0,
    progress: Callable[[str], None] | None = None,
    tile: tuple[int, int] | None = None,
) -> list[dict]:
    """Compare Lava with the integer reference on ``frame`` ``(C, H, W)``, bit for bit.

    ``tile``: compare on ``(H, W)`` tiles of the frame instead (all tiles one run each;
    ``lava_spikingunet.tiling.verify_tiled``).

    ``form``: a neuron form, ``both`` or ``all`` (default the model's). Returns one
    report per form (``report["identical"]`` says whether every layer's counts at every
    step and the readout agree). Raises InputError for an unquantized graph, a bad form
    or timeout, ResourceLimitError when a run would not fit in memory.
    """
    from lava_spikingunet.graph.timing import frame_steps
    from lava_spikingunet.limits import check_lava_memory, check_reference_memory
    from lava_spikingunet.neuron_forms import resolve_forms

    if not timeout > 0 or timeout == float("inf"):
        raise InputError(f"timeout must be a positive number of seconds, got {timeout}")
    if not graph.is_quantized:
        raise InputError("the model is not quantized: quantize it first")
    try:
        forms = resolve_forms(form or graph.meta.neuron_form)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    if tile is not None:
        from lava_spikingunet.tiling import plan_tiles, verify_tiled

        frame = prepare_frame(graph, frame)[1]
        plan = plan_tiles(graph, frame.shape[1:], tile)
        tiled = graph.resized(*plan.tile)
        check_reference_memory(tiled, plan.count, record_steps=frame_steps(tiled))
        for f in forms:
            check_lava_memory(tiled, f, plan.count)
        return verify_tiled(graph, frame, tile, forms, timeout, progress=progress)
    graph, frame = prepare_frame(graph, frame)
    check_reference_memory(graph, record_steps=frame_steps(graph))
    for f in forms:
        check_lava_memory(graph, f)
    return verify_frame(graph, frame, forms, timeout, progress=progress)
