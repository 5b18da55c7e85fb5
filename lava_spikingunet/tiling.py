"""Exact tiling: run a network built for a tile size on a larger frame, bit for bit.

The whole-frame run (``simulate``) pads the frame (reflect) to a multiple ``A = 2^depth``
of the pooling grid and runs the integer network on it, every convolution zero-padded at
the frame's border. A tile run reproduces it exactly:

1. The static input current ``I0`` is computed once on the whole padded frame (a host
   convolution, docs/semantics.md section 4) and each tile takes its window of it, so a
   tile's first layer receives exactly the whole frame's input.
2. Tile origins are multiples of ``A``: every pooling and up-sampling grid of the tile is
   the whole frame's, and a tile's side that lies on the frame's border sees the same
   zero padding as the whole frame at every resolution.
3. A tile side inside the frame differs from the whole frame only near it: its
   convolutions read zeros where the frame has values. :func:`receptive_halo` follows
   that error through the graph (every edge's exact index map, per axis, both sides, at
   every node's resolution) and returns how many readout pixels next to an inner side
   can differ. Each tile keeps only its pixels farther than that from its inner sides,
   the *halo*, and consecutive tiles overlap so that the kept parts cover the frame.

The network is feedforward in space (a neuron's state is per pixel), so a pixel whose
whole dependency cone lies inside the tile, or outside the frame, is computed from the
same values in the same order: the stitched readout accumulator equals the whole-frame
one bit for bit, in every backend and neuron form (tests/test_tiling.py).

``data/tiling.py`` is a different thing: float tiles averaged, for training and evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lava_spikingunet.errors import UserError
from lava_spikingunet.graph.dispatch import EdgeTable
from lava_spikingunet.graph.ir import AvgPoolEdge, ConvEdge, ConvTransposeEdge, SpikingGraph
from lava_spikingunet.pipeline.outputs import layer_row

__all__ = [
    "TilePlan",
    "axis_tiles",
    "parse_tile",
    "plan_tiles",
    "receptive_halo",
    "run_tiled",
    "stitch",
    "tile_currents",
]

#: A runner: (tile graph, currents ``(n, C, th, tw)`` int64) -> accumulators ``(n, K, th, tw)``.
Runner = Callable[[SpikingGraph, np.ndarray], np.ndarray]


# ------------------------------------------------------------------------- receptive halo


def _conv_reads(e: ConvEdge, q: int) -> list[int]:
    k, s, p = e.kernel_size, e.stride, e.padding
    return [q * s - p + j for j in range(k)]


def _pool_reads(e: AvgPoolEdge, q: int) -> list[int]:
    return [q * e.kernel + j for j in range(e.kernel)]


def _convt_reads(e: ConvTransposeEdge, q: int) -> list[int]:
    k, s, p = e.kernel_size, e.stride, e.padding
    return [(q + p - j) // s for j in range(k) if (q + p - j) % s == 0]


def _conv_length(e: ConvEdge, n_src: int) -> int:
    k, s, p = e.kernel_size, e.stride, e.padding
    return (n_src + 2 * p - k) // s + 1


def _pool_length(e: AvgPoolEdge, n_src: int) -> int:
    return n_src // e.kernel


def _convt_length(e: ConvTransposeEdge, n_src: int) -> int:
    k, s, p = e.kernel_size, e.stride, e.padding
    return (n_src - 1) * s - 2 * p + k + e.output_padding


#: Per edge type: (source indices output index q reads, output length along one axis).
_AXIS_RULES = EdgeTable(
    "tiling",
    {
        ConvEdge: (_conv_reads, _conv_length),
        AvgPoolEdge: (_pool_reads, _pool_length),
        ConvTransposeEdge: (_convt_reads, _convt_length),
    },
)


def _reads(e, q: int, n_src: int) -> list[int]:
    """Source indices (1-D, may be out of range) that output index ``q`` of edge ``e`` reads."""
    return _AXIS_RULES[e][0](e, q)


def _length(e, n_src: int) -> int:
    return _AXIS_RULES[e][1](e, n_src)


def _static_target(graph: SpikingGraph) -> str:
    targets = [d for s, d, e in graph.edges() if s == graph.input_name]
    if len(targets) != 1:
        raise ValueError("tiling needs exactly one static input edge")
    return targets[0]


def receptive_halo(graph: SpikingGraph, length: int | None = None) -> tuple[int, int]:
    """Readout pixels ``(before, after)`` next to an inner tile side that can differ from
    the whole frame (the same along both axes: kernels are square).

    Computed on a 1-D line of ``length`` input pixels (a multiple of the pooling grid,
    long enough for the halo): the static target starts error-free (its input is the
    whole frame's ``I0``); an output index is in error when it reads an index in error or
    one beyond the tile (the frame has a value there, the tile a zero). Raises if the
    error-free part of the readout is not one interval (it always is for these edges).
    """
    from lava_spikingunet.reference.input_current import size_multiple

    a = size_multiple(graph)
    n = length or a * max(16, math.ceil(2048 / a))
    first = _static_target(graph)
    bad: dict[str, np.ndarray] = {first: np.zeros(n, dtype=bool)}
    for name in graph.order():
        if name in (graph.input_name, first):
            continue
        ins = graph.in_edges(name)
        out = None
        for src, e in ins:
            src_bad = bad[src]
            m = _length(e, len(src_bad))
            err = np.zeros(m, dtype=bool)
            for q in range(m):
                for r in _reads(e, q, len(src_bad)):
                    if r < 0 or r >= len(src_bad) or src_bad[r]:
                        err[q] = True
                        break
            out = err if out is None else (out | err)
        bad[name] = out
    ro = bad[graph.readout_name]
    if len(ro) != n:
        raise ValueError(f"the readout has {len(ro)} pixels per line for an input of {n}")
    good = np.flatnonzero(~ro)
    if good.size == 0 or good[-1] - good[0] + 1 != good.size:
        raise ValueError(f"the error-free readout is not one interval on a {n}-pixel line")
    return int(good[0]), int(n - 1 - good[-1])


# ------------------------------------------------------------------------------- the plan


def parse_tile(text: str) -> tuple[int, int]:
    """``"HxW"`` or ``"S"`` (square) -> ``(H, W)``; UserError otherwise."""
    parts = str(text).lower().split("x")
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        raise UserError(f"--tile must be HxW or S (pixels), got {text!r}") from None
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or min(vals) < 1:
        raise UserError(f"--tile must be HxW or S with positive sides, got {text!r}")
    return vals[0], vals[1]


def axis_tiles(
    size: int, tile: int, before: int, after: int, grid: int
) -> list[tuple[int, int, int]]:
    """Tiles along one axis of ``size`` pixels: ``(origin, keep_start, keep_end)`` each.

    ``size`` and ``tile`` are multiples of ``grid``; origins are multiples of ``grid``;
    a tile keeps ``[origin + before, origin + tile - after)`` except on the frame's
    borders (``keep_start = 0`` / ``keep_end = size``); the kept parts partition
    ``[0, size)``. ``tile >= size`` gives one tile of the whole axis.
    """
    if size % grid or tile % grid:
        raise ValueError(f"size {size} and tile {tile} must be multiples of {grid}")
    if tile >= size:
        return [(0, 0, size)]
    core = tile - before - after
    if core < grid:
        need = before + after + grid
        need = -(-need // grid) * grid
        raise UserError(
            f"a {tile}-pixel tile keeps nothing: the network's receptive halo is "
            f"{before} + {after} pixels; use a tile of at least {need} pixels"
        )
    out: list[tuple[int, int, int]] = []
    origin, keep_start = 0, 0
    while True:
        last = origin + tile >= size
        keep_end = size if last else origin + tile - after
        out.append((origin, keep_start, keep_end))
        if last:
            return out
        nxt = min((origin + core) // grid * grid, size - tile)
        keep_start, origin = keep_end, nxt


@dataclass(frozen=True)
class TilePlan:
    """Where the tiles of a frame go. ``frame``: the caller's ``(H, W)``; ``padded``: the
    whole-frame run's padded size; ``tile``: the tile network's size; ``halo``:
    ``(before, after)`` pixels; ``rows``/``cols``: :func:`axis_tiles` per axis."""

    frame: tuple[int, int]
    padded: tuple[int, int]
    tile: tuple[int, int]
    halo: tuple[int, int]
    rows: tuple[tuple[int, int, int], ...]
    cols: tuple[tuple[int, int, int], ...]

    @property
    def count(self) -> int:
        return len(self.rows) * len(self.cols)

    def windows(self) -> list[tuple[int, int]]:
        """Tile origins ``(y, x)``, row-major."""
        return [(r[0], c[0]) for r in self.rows for c in self.cols]


def plan_tiles(graph: SpikingGraph, frame: tuple[int, int], tile: tuple[int, int]) -> TilePlan:
    """The tiles of a ``frame`` (H, W) for a network run on ``tile`` (H, W) windows.

    ``tile`` is rounded down to the pooling grid and capped at the padded frame.
    """
    from lava_spikingunet.reference.input_current import size_multiple

    a = size_multiple(graph)
    h, w = int(frame[0]), int(frame[1])
    ph, pw = -(-h // a) * a, -(-w // a) * a
    th, tw = (min(int(t) // a * a, p) for t, p in zip(tile, (ph, pw), strict=True))
    if th < a or tw < a:
        raise UserError(f"--tile {tile[0]}x{tile[1]} is smaller than the network's grid of {a}")
    halo = receptive_halo(graph)
    rows = tuple(axis_tiles(ph, th, *halo, a))
    cols = tuple(axis_tiles(pw, tw, *halo, a))
    return TilePlan((h, w), (ph, pw), (th, tw), halo, rows, cols)


# ---------------------------------------------------------------------------- the run


def padded_current(graph: SpikingGraph, x: np.ndarray) -> np.ndarray:
    """``I0_int`` ``(1, C1, Hp, Wp)`` of frame ``x`` ``(C, H, W)`` padded as the whole-frame
    run pads it (reflect, to the pooling grid)."""
    import torch

    from lava_spikingunet.reference.input_current import input_current, size_multiple
    from lava_spikingunet.reference.module import pad_frames

    xp, _ = pad_frames(torch.as_tensor(np.asarray(x, dtype=np.float64))[None], size_multiple(graph))
    sized = graph.resized(*xp.shape[2:])
    return input_current(sized, xp.numpy())


def tile_currents(plan: TilePlan, current: np.ndarray) -> np.ndarray:
    """The tiles' windows of the padded frame's current: ``(count, C1, th, tw)``."""
    th, tw = plan.tile
    cur = np.asarray(current)[0]
    return np.stack([cur[:, y : y + th, x : x + tw] for y, x in plan.windows()])


def stitch(plan: TilePlan, accs: np.ndarray) -> np.ndarray:
    """Kept parts of the tiles' accumulators ``(count, K, th, tw)`` -> ``(K, H, W)``."""
    accs = np.asarray(accs)
    out = np.empty((accs.shape[1], *plan.padded), dtype=accs.dtype)
    i = 0
    for y, ys, ye in plan.rows:
        for x, xs, xe in plan.cols:
            out[:, ys:ye, xs:xe] = accs[i][:, ys - y : ye - y, xs - x : xe - x]
            i += 1
    return out[:, : plan.frame[0], : plan.frame[1]]


def _chunks(n: int, size: int) -> Iterable[slice]:
    for i in range(0, n, max(1, size)):
        yield slice(i, min(n, i + max(1, size)))


def run_tiled(
    graph: SpikingGraph,
    x: np.ndarray,
    tile: tuple[int, int],
    runner: Runner,
    *,
    batch: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, TilePlan]:
    """The readout accumulator ``(K, H, W)`` of frame ``x`` ``(C, H, W)``, run tile by tile.

    ``runner(tile_graph, currents)`` runs ``batch`` tiles at a time (default: all at
    once, e.g. as frames of one Lava run) and returns their accumulators.
    ``progress(done, total)`` is called after each batch.
    """
    plan = plan_tiles(graph, tuple(np.shape(x)[1:]), tile)
    current = padded_current(graph, x)
    tiles = tile_currents(plan, current)
    tile_graph = graph.resized(*plan.tile)
    accs = []
    for sl in _chunks(len(tiles), batch or len(tiles)):
        accs.append(np.asarray(runner(tile_graph, tiles[sl])))
        if progress is not None:
            progress(sl.stop, len(tiles))
    return stitch(plan, np.concatenate(accs)), plan


def reference_runner(graph: SpikingGraph, currents: np.ndarray) -> np.ndarray:
    """:data:`Runner` of the integer reference."""
    from lava_spikingunet.reference.simulator import simulate

    return simulate(graph, current=currents).acc.numpy()


def lava_runner(form: str | None = None, **kwargs) -> Runner:
    """:data:`Runner` of the Lava backend: every tile a frame of one Lava run."""

    def run(graph: SpikingGraph, currents: np.ndarray) -> np.ndarray:
        from lava_spikingunet.backends.lava_network import run_lava

        return run_lava(graph, currents, form=form or graph.meta.neuron_form, **kwargs).acc

    return run


def tile_sizes(graph: SpikingGraph, frame: tuple[int, int]) -> Sequence[tuple[int, int]]:
    """Square tile candidates for ``frame``, largest first (whole frame, then halving)."""
    from lava_spikingunet.reference.input_current import size_multiple

    a = size_multiple(graph)
    halo = sum(receptive_halo(graph))
    side = -(-max(frame) // a) * a
    out = []
    while side >= halo + a:
        out.append((side, side))
        side = (side // 2 + a - 1) // a * a if side > 2 * a else side - a
        if out and side == out[-1][0]:
            break
    return out


# ------------------------------------------------------------------ simulate, verify


def choose_tile(sized: SpikingGraph, form: str, frames: int = 1) -> tuple[int, int] | None:
    """``None`` when a Lava run of ``sized`` (the whole padded frame) fits in memory, else
    the largest square tile whose run of all tiles (as frames of one run) fits; the
    whole frame's :class:`ResourceLimitError` when no tile fits."""
    from lava_spikingunet.errors import ResourceLimitError
    from lava_spikingunet.limits import check_lava_memory

    try:
        check_lava_memory(sized, form, frames)
        return None
    except ResourceLimitError as whole:
        frame = sized.node(sized.input_name).shape[1:]
        for cand in tile_sizes(sized, frame):
            if cand[0] >= max(frame):
                continue
            try:
                plan = plan_tiles(sized, frame, cand)
                check_lava_memory(sized.resized(*plan.tile), form, plan.count)
                return cand
            except (ResourceLimitError, UserError):
                continue
        raise whole


def simulate_tiled(
    graph: SpikingGraph, x: np.ndarray, backend: str, timesteps: int, tile, form=None
):
    """``pipeline.simulate``'s result for a tiled run of frame ``x`` ``(C, H, W)``:
    a :class:`~lava_spikingunet.pipeline.outputs.SimOutput` with ``tiles`` set."""
    from lava_spikingunet.graph.timing import frame_steps, pipeline_depth
    from lava_spikingunet.pipeline.outputs import SimOutput

    if timesteps != graph.meta.timesteps:
        graph = graph.copy()
        graph.meta.timesteps = int(timesteps)
    if backend == "lava":
        runner = lava_runner(form or graph.meta.neuron_form)
    elif backend == "reference":
        runner = reference_runner
    else:
        raise UserError(f"--tile runs the reference or Lava backends, not {backend!r}")
    acc, plan = run_tiled(graph, x, tuple(tile), runner, batch=None if backend == "lava" else 4)
    scale = graph.node(graph.readout_name).scale
    out = SimOutput(
        acc=acc,
        y=acc / (graph.meta.timesteps * scale),
        timesteps=int(graph.meta.timesteps),
        total_steps=frame_steps(graph),
        pipeline_depth=pipeline_depth(graph),
    )
    out.tiles = plan.count
    out.tile = plan.tile
    return out


def verify_tiled(
    graph: SpikingGraph, x: np.ndarray, tile, forms, timeout: float = 120.0, progress=None
) -> list[dict]:
    """``verify`` on a tiled frame: every tile of ``x`` runs as a frame of one Lava run and
    of the reference (same integer currents, cut from the whole frame's); every layer's
    counts at every step of every tile and every tile's readout are compared (the
    stitched readout then equals the whole frame's: tests/test_tiling.py). One report per
    form, with the tile plan."""
    from lava_spikingunet.backends.lava_network import run_lava
    from lava_spikingunet.reference.simulator import simulate

    plan = plan_tiles(graph, tuple(np.shape(x)[1:]), tuple(tile))
    tiles = tile_currents(plan, padded_current(graph, x))
    g = graph.resized(*plan.tile)
    ref = simulate(g, current=tiles, record_spikes=True)
    ref_acc = ref.acc.numpy()
    reports = []
    for form in forms:
        if progress:
            progress(f"Lava ({form} form, {plan.count} tiles of {plan.tile[0]}x{plan.tile[1]})")
        lava = run_lava(g, tiles, form=form, record=True, timeout=timeout)
        flen, layers = lava.frame_len, []
        for name in g.neurons():
            want = ref.spikes[name].numpy()  # (steps, tiles, C, H, W)
            got = lava.spikes[name].reshape(plan.count, flen, *want.shape[2:]).swapaxes(0, 1)
            layers.append(layer_row(name, want, got[: want.shape[0]]))
        acc_diff = int((lava.acc != ref_acc).sum())
        reports.append(
            {
                "form": form,
                "identical": acc_diff == 0 and all(r["mismatches"] == 0 for r in layers),
                "readout_mismatches": acc_diff,
                "layers": layers,
                "lava_wall_s": round(lava.wall_s, 3),
                "tiles": plan.count,
                "tile": list(plan.tile),
                "halo": list(plan.halo),
            }
        )
    return reports


def tile_frame(graph: SpikingGraph, x: np.ndarray, tile, index: int = 0):
    """Tile ``index``'s window of frame ``x`` ``(C, H, W)`` (padded as the whole frame is)
    and the :class:`TilePlan`: what ``profile --tile`` profiles (the network a board runs
    for every tile)."""
    import torch

    from lava_spikingunet.reference.input_current import size_multiple
    from lava_spikingunet.reference.module import pad_frames

    x = np.asarray(x, dtype=np.float64)
    plan = plan_tiles(graph, tuple(x.shape[1:]), tuple(tile))
    xp = pad_frames(torch.as_tensor(x)[None], size_multiple(graph))[0][0].numpy()
    y0, x0 = plan.windows()[index]
    return xp[:, y0 : y0 + plan.tile[0], x0 : x0 + plan.tile[1]], plan


def tiling_summary(plan: TilePlan, latency: dict) -> dict:
    """Tiles per frame and, at the profile's step time (``hw.mapping.latency``), tiles per
    second and seconds per frame when one tile network serves the frame tile by tile."""
    tiles_per_s = float(latency["frames_per_s"])
    return {
        "frame": list(plan.frame),
        "tile": list(plan.tile),
        "halo": list(plan.halo),
        "tiles": plan.count,
        "tiles_per_s": tiles_per_s,
        "frame_s": plan.count / tiles_per_s,
        "step_time_estimated": bool(latency.get("estimated", False)),
    }
