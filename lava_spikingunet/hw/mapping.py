"""Map a Spiking-UNet onto the cores of a hardware profile, and check it can be deployed.

The model (docs/profiling.md, "Mapping"):

- One layer per core: a core holds neurons of one node only (Lava's compiler allocates
  per process). Each neuron layer and the readout is tiled into rectangular blocks
  ``channels x rows x columns``, greedily: whole rows of all channels if one fits, else
  groups of channels over rows, else runs of columns of one channel and row.
- Compartments: 1 per neuron in the graded form, ``N + 1`` (integrator + N stages, kept
  on one core) in the binary cascade form, 1 in the virtual-step form (one compartment
  firing binary spikes on ``2^N - 1`` sub-steps); the readout is 1 per neuron. A core
  holds at most ``core.neurons`` compartments.
- Input axons of a core: distinct source axons reaching its block; a cascade source
  neuron has N axons (one per stage), a graded one 1. The static input edge is the host's
  current injection: no axons, no synapses.
- Synaptic memory (``weight_model``): ``"dense"`` (default, conservative) stores every
  synapse of every neuron on the core at the profile's mantissa width: border neurons
  store fewer; a cascade source costs N synapses per connection. ``"shared"`` stores
  each in-edge's kernel slice once per core (``C_in * k * k`` per target channel on the
  core, times N for a cascade source), as a compressed convolutional encoding would.
  Neither counts index or delay fields: real tables are larger than the weight bits.
- Input axons per core are limited (the profile's ``max_fanin_axons``, or for a profile
  that publishes none, Loihi 2, the estimate :data:`FANIN_AXONS_ESTIMATE`).
- Connectivity is structural (every kernel tap that lands inside the target), which is
  separable in channels, rows and columns, so block counts are exact products of 1-D sums.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from lava_spikingunet.errors import UserError
from lava_spikingunet.graph.dispatch import EdgeTable
from lava_spikingunet.graph.ir import (
    AvgPoolEdge,
    ConvEdge,
    ConvTransposeEdge,
    Edge,
    NeuronNode,
    ReadoutNode,
    SpikingGraph,
    check_neuron_form,
)
from lava_spikingunet.hw.profiles import HardwareProfile
from lava_spikingunet.hw.validate import profile_problems as deployment_problems
from lava_spikingunet.neuron_forms import Form

WeightModel = Literal["dense", "shared"]

#: Input (fan-in) axons per core for a profile that publishes none (Loihi 2). ESTIMATE:
#: Intel has not published Loihi 2's figure; this is the closest public one, Loihi 1's
#: ``MAX_IN_AXONS = 4096`` per core (nengo-loihi ``hardware/nxsdk_objects.py``; see
#: hw_profiles/loihi1.toml). Without a limit a core could take any number of input axons
#: (the head layer of a width-64 U-Net got 262 k), so the core counts were optimistic.
FANIN_AXONS_ESTIMATE = 4096


# --------------------------------------------------------------------------- connectivity


def _axis_matrix(kind: str, n_out: int, n_in: int, k: int, s: int, p: int) -> np.ndarray:
    """1-D structural connectivity ``(n_out, n_in)`` of one spatial axis (bool)."""
    o = np.arange(n_out)[:, None]
    i = np.arange(n_in)[None, :]
    if kind == "conv":  # o*s - p + kk = i for some kk in [0, k)
        kk = i - (o * s - p)
        return (kk >= 0) & (kk < k)
    if kind == "convT":  # i*s - p + kk = o
        kk = o - (i * s - p)
        return (kk >= 0) & (kk < k)
    if kind == "pool":
        return i // k == o
    raise ValueError(kind)


@dataclass
class EdgeStructure:
    """Separable structural connectivity of one edge: target x source, per axis."""

    src: str
    channels: np.ndarray  # (C_tgt, C_src) bool
    rows: np.ndarray  # (H_tgt, H_src) bool
    cols: np.ndarray  # (W_tgt, W_src) bool
    kernel_entries: int  # weights per target channel in the shared model (per source axon)
    axons_per_source: int  # 1 (graded / readout) or N (cascade source)


#: Per edge type: (kernel, stride, padding, kind, channel-diagonal) of its connectivity.
_STRUCTURE = EdgeTable(
    "mapping",
    {
        ConvEdge: lambda e: (e.kernel_size, e.stride, e.padding, "conv", False),
        ConvTransposeEdge: lambda e: (e.kernel_size, e.stride, e.padding, "convT", False),
        AvgPoolEdge: lambda e: (e.kernel, e.kernel, 0, "pool", True),
    },
)


def edge_structure(graph: SpikingGraph, src: str, edge: Edge, form: Form) -> EdgeStructure:
    """The separable connectivity of ``src -> target`` along ``edge``."""
    c_in, h_in, w_in = graph.node(src).shape
    c_out, h_out, w_out = edge.out_shape((c_in, h_in, w_in))
    k, s, p, kind, diagonal = _STRUCTURE[edge](edge)
    ch = np.eye(c_out, c_in, dtype=bool) if diagonal else np.ones((c_out, c_in), dtype=bool)
    entries = k * k if diagonal else c_in * k * k
    node = graph.node(src)
    n_axons = node.n_thresholds if (form == "cascade" and isinstance(node, NeuronNode)) else 1
    return EdgeStructure(
        src=src,
        channels=ch,
        rows=_axis_matrix(kind, h_out, h_in, k, s, p),
        cols=_axis_matrix(kind, w_out, w_in, k, s, p),
        kernel_entries=entries,
        axons_per_source=n_axons,
    )


# --------------------------------------------------------------------------- blocks


@dataclass(frozen=True, slots=True)
class Block:
    """A rectangular block of a layer's neurons: half-open channel, row, column ranges."""

    c: tuple[int, int]
    y: tuple[int, int]
    x: tuple[int, int]

    @property
    def neurons(self) -> int:
        return (self.c[1] - self.c[0]) * (self.y[1] - self.y[0]) * (self.x[1] - self.x[0])


@dataclass(slots=True)
class CoreUse:
    """Resources one core's block uses."""

    block: Block
    compartments: int
    synapses: int
    synaptic_bytes: int
    fanin_axons: int


class _Axis:
    """One axis of a separable connectivity: prefix fan-in sums and exact source reach."""

    def __init__(self, m: np.ndarray) -> None:
        self.m = m
        self.deg = [0, *np.cumsum(m.sum(1)).tolist()]
        # Fast exact reach when each source's targets are one interval and the intervals
        # move monotonically with the source (true of conv, convT, pool, dense channels):
        # then reach(lo, hi) = #{first < hi} - #{last < lo}.
        has = m.any(0)
        first = np.where(has, m.argmax(0), -1)
        last = np.where(has, m.shape[0] - 1 - m[::-1].argmax(0), -1)
        interval = bool(has.all()) and bool(np.all(m.sum(0) == last - first + 1))
        monotone = bool(np.all(np.diff(first) >= 0) and np.all(np.diff(last) >= 0))
        self.fast = interval and monotone
        self.first, self.last = first.tolist(), last.tolist()

    def fanin(self, lo: int, hi: int) -> int:
        return self.deg[hi] - self.deg[lo]

    def reach(self, lo: int, hi: int) -> int:
        if self.fast:
            return bisect.bisect_left(self.first, hi) - bisect.bisect_left(self.last, lo)
        return int(self.m[lo:hi].any(0).sum())


class _LayerCost:
    """Exact resource use of any block of one layer (products of 1-D sums per edge)."""

    def __init__(
        self, structures: list[EdgeStructure], cpn: int, bits: int, model: WeightModel
    ) -> None:
        self.s, self.cpn, self.bits, self.model = structures, cpn, bits, model
        self.axes = [(_Axis(e.channels), _Axis(e.rows), _Axis(e.cols)) for e in structures]

    def key(self, axis: str, r: tuple[int, int]) -> tuple:
        """What a block's cost depends on along one axis (equal keys: equal costs)."""
        i = 0 if axis == "c" else 1
        return (r[1] - r[0], *((a[i].fanin(*r), a[i].reach(*r)) for a in self.axes))

    def use(self, b: Block) -> CoreUse:
        synapses = axons = entries = 0
        for e, (ac, ay, ax) in zip(self.s, self.axes, strict=True):
            n = e.axons_per_source
            synapses += ac.fanin(*b.c) * ay.fanin(*b.y) * ax.fanin(*b.x) * n
            axons += ac.reach(*b.c) * ay.reach(*b.y) * ax.reach(*b.x) * n
            entries += (b.c[1] - b.c[0]) * e.kernel_entries * n
        stored = synapses if self.model == "dense" else entries
        return CoreUse(
            block=b,
            compartments=b.neurons * self.cpn,
            synapses=synapses,
            synaptic_bytes=-(-stored * self.bits // 8),
            fanin_axons=axons,
        )


def _broken(use: CoreUse, profile: HardwareProfile) -> list[str]:
    """The per-core limits ``use`` breaks (empty if it fits)."""
    core, out = profile.core, []
    if use.compartments > core.neurons:
        out.append(f"{use.compartments} compartments > {core.neurons} per core")
    if use.synaptic_bytes > core.synaptic_memory_bytes:
        out.append(
            f"{use.synaptic_bytes} bytes of synaptic memory > {core.synaptic_memory_bytes} per core"
        )
    if core.max_fanin_axons is not None and use.fanin_axons > core.max_fanin_axons:
        out.append(f"{use.fanin_axons} input axons > {core.max_fanin_axons} per core")
    return out


def _longest(fits, lo: int, n: int) -> int:
    """Largest ``hi`` in ``(lo, n]`` with ``fits(lo, hi)`` (monotone), given ``fits(lo, lo+1)``."""
    good, step = lo + 1, 1
    while good < n and fits(lo, min(n, good + step)):  # gallop
        good = min(n, good + step)
        step *= 2
    bad = min(n, good + step) + 1 if good < n else n + 1
    while bad - good > 1:  # fits(lo, good), not fits(lo, bad) (or bad past the end)
        mid = (good + bad) // 2
        if fits(lo, mid):
            good = mid
        else:
            bad = mid
    return good


def _greedy(fits, n: int) -> list[tuple[int, int]] | None:
    """Split ``range(n)`` into consecutive runs, each as long as ``fits(lo, hi)`` allows.

    ``fits`` must be monotone (a run that fits still fits when shortened); None if a
    single element does not fit.
    """
    runs, lo = [], 0
    while lo < n:
        if not fits(lo, lo + 1):
            return None
        hi = _longest(fits, lo, n)
        runs.append((lo, hi))
        lo = hi
    return runs


def tile_layer(
    name: str, shape: tuple[int, int, int], cost: _LayerCost, profile: HardwareProfile
) -> list[CoreUse]:
    """Greedy tiling of one layer into core blocks; UserError if one neuron cannot fit."""
    C, H, W = shape

    def ok(b: Block) -> bool:
        return not _broken(cost.use(b), profile)

    def uses(cs, ys, xs) -> list[CoreUse]:
        return [cost.use(Block(c, y, x)) for c in cs for y in ys for x in xs]

    # 1. whole rows of all channels
    rows = _greedy(lambda a, z: ok(Block((0, C), (a, z), (0, W))), H)
    if rows is not None:
        return uses([(0, C)], rows, [(0, W)])

    # 2. channel groups (sized for the worst row), each over runs of rows; and square
    #    tiles of all channels (a conv's input axons grow with the tile's area plus its
    #    halo, so under a fan-in limit a t x t tile beats a full-width row): the fewer cores
    candidates: list[list[CoreUse]] = []

    def group_fits(_: int, hi: int) -> bool:
        return all(ok(Block((0, hi), (y, y + 1), (0, W))) for y in range(H))

    g = _longest(group_fits, 0, C) if group_fits(0, 1) else 0
    if g > 0:
        out: list[CoreUse] = []
        memo: dict[tuple, list | None] = {}
        for c0 in range(0, C, g):
            cs = (c0, min(C, c0 + g))
            key = cost.key("c", cs)
            if key not in memo:
                memo[key] = _greedy(lambda a, z, cs=cs: ok(Block(cs, (a, z), (0, W))), H)
            if memo[key] is None:  # a later group is costlier (not for uniform ops)
                break
            out += uses([cs], memo[key], [(0, W)])
        else:
            candidates.append(out)
    for t in range(min(H, W), 0, -1):
        y0, x0 = (t if H >= 3 * t else 0), (t if W >= 3 * t else 0)
        if not ok(Block((0, C), (y0, min(H, y0 + t)), (x0, min(W, x0 + t)))):
            continue  # an interior tile is the costliest: try it first
        ys = [(y, min(H, y + t)) for y in range(0, H, t)]
        xs = [(x, min(W, x + t)) for x in range(0, W, t)]
        if all(ok(Block((0, C), y, x)) for y in ys for x in xs):
            candidates.append(uses([(0, C)], ys, xs))
            break
    if candidates:
        return min(candidates, key=len)

    # 3. runs of columns of one channel and one row (memoized: interior rows repeat)
    out, memo = [], {}
    for c in range(C):
        for y in range(H):
            key = (cost.key("c", (c, c + 1)), cost.key("y", (y, y + 1)))
            if key not in memo:
                memo[key] = _greedy(
                    lambda a, z, c=c, y=y: ok(Block((c, c + 1), (y, y + 1), (a, z))), W
                )
            if memo[key] is None:
                worst = max(
                    (cost.use(Block((c, c + 1), (y, y + 1), (x, x + 1))) for x in range(W)),
                    key=lambda u: len(_broken(u, profile)),
                )
                raise UserError(
                    f"layer {name!r} does not fit a {profile.name} core: one neuron needs "
                    + "; ".join(_broken(worst, profile))
                )
            out += uses([(c, c + 1)], [(y, y + 1)], memo[key])
    return out


# --------------------------------------------------------------------------- mapping


@dataclass
class LayerMapping:
    name: str
    kind: str
    neurons: int
    compartments_per_neuron: int
    cores: list[CoreUse] = field(repr=False)

    @property
    def n_cores(self) -> int:
        return len(self.cores)

    @property
    def compartments(self) -> int:
        return sum(u.compartments for u in self.cores)

    @property
    def synapses(self) -> int:
        return sum(u.synapses for u in self.cores)

    @property
    def synaptic_bytes(self) -> int:
        return sum(u.synaptic_bytes for u in self.cores)

    @property
    def fanin_axons(self) -> int:
        return sum(u.fanin_axons for u in self.cores)

    def summary(self, profile: HardwareProfile) -> dict:
        """Plain dict for reports (utilisation relative to the layer's cores)."""
        n = max(1, self.n_cores)
        core = profile.core
        out = {
            "layer": self.name,
            "kind": self.kind,
            "neurons": self.neurons,
            "compartments": self.compartments,
            "cores": self.n_cores,
            "synapses": self.synapses,
            "synaptic_bytes": self.synaptic_bytes,
            "fanin_axons_max": max((u.fanin_axons for u in self.cores), default=0),
            "compartment_util": self.compartments / (n * core.neurons),
            "memory_util": self.synaptic_bytes / (n * core.synaptic_memory_bytes),
        }
        if core.max_fanin_axons is not None:
            out["axon_util"] = self.fanin_axons / (n * core.max_fanin_axons)
        return out


@dataclass
class MappingResult:
    profile: HardwareProfile
    form: Form
    weight_model: WeightModel
    layers: list[LayerMapping]
    fanin_estimated: bool = False  # the fan-in limit is FANIN_AXONS_ESTIMATE

    @property
    def fanin_limit(self) -> int | None:
        return self.profile.core.max_fanin_axons

    @property
    def cores(self) -> int:
        return sum(lay.n_cores for lay in self.layers)

    @property
    def chips(self) -> int:
        return math.ceil(self.cores / self.profile.chip.cores)

    def summary(self) -> dict:
        p = self.profile
        cores = max(1, self.cores)
        comp = sum(lay.compartments for lay in self.layers)
        mem = sum(lay.synaptic_bytes for lay in self.layers)
        return {
            "profile": p.name,
            "form": self.form,
            "weight_model": self.weight_model,
            "cores": self.cores,
            "chips": self.chips,
            "cores_per_chip": p.chip.cores,
            "compartments": comp,
            "synaptic_bytes": mem,
            "compartment_util": comp / (cores * p.core.neurons),
            "memory_util": mem / (cores * p.core.synaptic_memory_bytes),
            "chip_util": self.cores / (self.chips * p.chip.cores) if self.chips else 0.0,
            "fanin_limit": self.fanin_limit,
            "fanin_limit_estimated": self.fanin_estimated,
            "layers": [lay.summary(p) for lay in self.layers],
        }


def check_form(profile: HardwareProfile, form: Form) -> None:
    """Refuse a neuron form the profile cannot run (graded spikes on a binary chip)."""
    try:
        check_neuron_form(form)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if form == "graded" and not profile.supports_graded:
        raise UserError(
            f"profile {profile.name!r} has no graded spikes (graded_payload_bits = "
            f"{profile.spikes.graded_payload_bits}); use the binary cascade form "
            "(--form cascade)"
        )


def map_graph(
    graph: SpikingGraph,
    profile: HardwareProfile,
    form: Form = "graded",
    weight_model: WeightModel = "shared",
    fanin_limit: int | None = None,
) -> MappingResult:
    """Tile every neuron layer and the readout onto cores of ``profile``.

    Input axons per core are limited by ``fanin_limit``, else the profile's
    ``max_fanin_axons``, else :data:`FANIN_AXONS_ESTIMATE` (marked estimated in the
    result). UserError if the form is impossible on the profile or a layer cannot fit a
    core.
    """
    import dataclasses

    check_form(profile, form)
    estimated = False
    limit = fanin_limit or profile.core.max_fanin_axons
    if limit is None:
        limit, estimated = FANIN_AXONS_ESTIMATE, True
    if limit != profile.core.max_fanin_axons:
        core = dataclasses.replace(profile.core, max_fanin_axons=int(limit))
        profile = dataclasses.replace(profile, core=core)
    if weight_model not in ("dense", "shared"):
        raise UserError(f"weight model must be 'dense' or 'shared', got {weight_model!r}")
    bits = profile.weights.mantissa_bits
    layers = []
    for name in graph.order():
        node = graph.node(name)
        if not isinstance(node, NeuronNode | ReadoutNode):
            continue
        cpn = node.n_thresholds + 1 if (form == "cascade" and isinstance(node, NeuronNode)) else 1
        structs = [
            edge_structure(graph, src, e, form)
            for src, e in graph.in_edges(name)
            if src != graph.input_name
        ]
        cost = _LayerCost(structs, cpn, bits, weight_model)
        uses = tile_layer(name, node.shape, cost, profile)
        kind = "neuron" if isinstance(node, NeuronNode) else "readout"
        layers.append(LayerMapping(name, kind, int(np.prod(node.shape)), cpn, uses))
    return MappingResult(profile, form, weight_model, layers, estimated)


# --------------------------------------------------------------------------- latency


def latency(graph: SpikingGraph, profile: HardwareProfile, timesteps: int | None = None) -> dict:
    """Steps per frame (pipeline depth + T) and time per frame at the profile's step time."""
    from lava_spikingunet.graph.timing import pipeline_depth

    T = int(graph.meta.timesteps if timesteps is None else timesteps)
    depth = pipeline_depth(graph)
    steps = depth + T
    frame_us = steps * profile.timing.step_us
    return {
        "timesteps": T,
        "pipeline_depth": depth,
        "steps_per_frame": steps,
        "step_us": profile.timing.step_us,
        "frame_us": frame_us,
        "frames_per_s": 1e6 / frame_us,
        "estimated": profile.timing.estimated,
    }


# --------------------------------------------------------------------------- validation


def check_deployable(
    graph: SpikingGraph,
    profile: HardwareProfile,
    form: Form,
    weight_model: WeightModel = "shared",
) -> MappingResult:
    """Validate formats, delays and form, then map; UserError listing every problem."""
    check_form(profile, form)
    problems = deployment_problems(graph, profile, form)
    if problems:
        listing = "\n  ".join(problems)
        raise UserError(f"the model does not fit {profile.name}:\n  {listing}")
    return map_graph(graph, profile, form, weight_model)


__all__ = [
    "Block",
    "CoreUse",
    "LayerMapping",
    "MappingResult",
    "check_deployable",
    "check_form",
    "deployment_problems",
    "edge_structure",
    "latency",
    "map_graph",
    "tile_layer",
]
