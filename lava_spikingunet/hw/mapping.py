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
- Fan-in split: a layer whose single neuron needs more input axons than a core takes
  (a 3x3 conv from 512 channels: 4608) is mapped as a Loihi deployment would map it: its
  source channels are cut into ``G`` groups, each feeding a layer of partial-sum
  (dendritic accumulator / relay) neurons, one per target neuron and group, on cores of
  their own; each partial-sum neuron sends its partial current as one graded spike, and
  the layer's own neurons (the summing neurons) add the ``G`` partial sums (``G`` axons,
  weight 1) before they integrate. ``G`` is tried at the multiples
  :data:`SPLIT_GROUPS_TRIED` (up to 8) of the fewest groups whose worst neuron fits the
  limit, channels shared out evenly; the ``G`` with the fewest cores in all is kept.
  Costs, all in the result: the partial neurons' cores (``partial_cores``) and one more
  step of latency per split layer on the longest path (``extra_steps``; the skip edges
  around it take one more step of delay).
  It needs graded spikes (a profile without them is refused, as before), and a partial
  sum must fit the graded payload (24 bits on Loihi 2; not checked here).
- Connectivity is structural (every kernel tap that lands inside the target), which is
  separable in channels, rows and columns, so block counts are exact products of 1-D sums.
"""

from __future__ import annotations

import bisect
import dataclasses
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
        self._keys: dict[tuple, tuple] = {}
        self._uses: dict[tuple, tuple[int, int, int, int]] = {}

    def key(self, axis: str, r: tuple[int, int]) -> tuple:
        """What a block's cost depends on along one axis (equal keys: equal costs)."""
        return self._axis_key("cyx".index(axis), r)

    def _axis_key(self, i: int, r: tuple[int, int]) -> tuple:
        k = self._keys.get((i, r))
        if k is None:
            k = (r[1] - r[0], *((a[i].fanin(*r), a[i].reach(*r)) for a in self.axes))
            self._keys[(i, r)] = k
        return k

    def use(self, b: Block) -> CoreUse:
        """The block's resources; blocks with equal keys on all three axes cost the same
        (interior tiles repeat), so each distinct cost is computed once."""
        key = (self._axis_key(0, b.c), self._axis_key(1, b.y), self._axis_key(2, b.x))
        hit = self._uses.get(key)
        if hit is None:
            hit = self._use(b)
            self._uses[key] = hit
        return CoreUse(b, *hit)

    def _use(self, b: Block) -> tuple[int, int, int, int]:
        synapses = axons = entries = 0
        for e, (ac, ay, ax) in zip(self.s, self.axes, strict=True):
            n = e.axons_per_source
            synapses += ac.fanin(*b.c) * ay.fanin(*b.y) * ax.fanin(*b.x) * n
            axons += ac.reach(*b.c) * ay.reach(*b.y) * ax.reach(*b.x) * n
            entries += (b.c[1] - b.c[0]) * e.kernel_entries * n
        stored = synapses if self.model == "dense" else entries
        return b.neurons * self.cpn, synapses, -(-stored * self.bits // 8), axons


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
    candidates: list[tuple[int, object]] = []  # (cores, how to build them): build the best

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
            candidates.append((len(out), lambda out=out: out))

    def squares(cg: int) -> tuple[int, object] | None:
        """Channel groups of ``cg`` x the largest square tiles that fit, or None."""
        cs = [(c, min(C, c + cg)) for c in range(0, C, cg)]
        for t in range(min(H, W), 0, -1):
            y0, x0 = (t if H >= 3 * t else 0), (t if W >= 3 * t else 0)
            if not ok(Block(cs[0], (y0, min(H, y0 + t)), (x0, min(W, x0 + t)))):
                continue  # an interior tile is the costliest: try it first
            ys = [(y, min(H, y + t)) for y in range(0, H, t)]
            xs = [(x, min(W, x + t)) for x in range(0, W, t)]
            # one block per distinct cost (equal axis keys: equal costs) stands for all
            rep = [
                list({cost.key(a, r): r for r in rs}.values())
                for a, rs in (("c", cs), ("y", ys), ("x", xs))
            ]
            if all(ok(Block(c, y, x)) for c in rep[0] for y in rep[1] for x in rep[2]):
                return len(cs) * len(ys) * len(xs), lambda ys=ys, xs=xs: uses(cs, ys, xs)
            return None
        return None

    found = squares(C)  # square tiles of all channels
    if found is not None:
        candidates.append(found)
    else:  # e.g. all channels' shared kernels overflow a core: channel groups x squares
        y0, x0 = (1 if H >= 3 else 0), (1 if W >= 3 else 0)

        def one(_: int, hi: int) -> bool:
            return ok(Block((0, hi), (y0, y0 + 1), (x0, x0 + 1)))

        cg = _longest(one, 0, C) if one(0, 1) else 0
        while cg >= 1:
            found = squares(cg)
            if found is not None:
                candidates.append(found)
            cg //= 2
    if candidates:
        return min(candidates, key=lambda cand: cand[0])[1]()

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


# --------------------------------------------------------------------------- fan-in split


def neuron_fanin(structures: list[EdgeStructure]) -> int:
    """Input axons of the layer's worst single neuron (separable: per edge, the target
    channel's source channels times the widest row and column reach, times N)."""
    total = 0
    for e in structures:
        ac, ay, ax = _Axis(e.channels), _Axis(e.rows), _Axis(e.cols)
        worst = [max(a.reach(i, i + 1) for i in range(a.m.shape[0])) for a in (ac, ay, ax)]
        total += worst[0] * worst[1] * worst[2] * e.axons_per_source
    return total


def _channel_cost(e: EdgeStructure) -> int:
    """Input axons one source channel adds to the worst neuron of a dense conv."""
    ay, ax = _Axis(e.rows), _Axis(e.cols)
    worst_y = max(ay.reach(i, i + 1) for i in range(e.rows.shape[0]))
    worst_x = max(ax.reach(i, i + 1) for i in range(e.cols.shape[0]))
    return worst_y * worst_x * e.axons_per_source


def split_fanin(
    structures: list[EdgeStructure], limit: int, groups: int | None = None
) -> list[list[EdgeStructure]] | None:
    """The source channels of ``structures`` cut into ``groups`` runs (default: the fewest
    whose worst neuron needs at most ``limit`` input axons), the largest run as small as
    that number allows: each group a list of the edges' structures restricted to a run of
    their source channels, in order (at most ``groups`` of them). None if one source
    channel alone is over the limit."""
    per_edge = [_channel_cost(e) for e in structures]
    costs = [
        (i, c, per_edge[i]) for i, e in enumerate(structures) for c in range(e.channels.shape[1])
    ]
    if not costs or max(w for *_, w in costs) > limit:
        return None

    def pack(cap: int) -> list[list[tuple[int, int, int]]]:  # greedy runs of <= cap
        chunks: list[list[tuple[int, int, int]]] = [[]]
        load = 0
        for item in costs:
            if chunks[-1] and load + item[2] > cap:
                chunks.append([])
                load = 0
            chunks[-1].append(item)
            load += item[2]
        return chunks

    fewest = len(pack(limit))  # greedy packing of a sequence: the fewest runs under the cap
    g = min(len(costs), max(fewest, int(groups or fewest)))
    lo, hi = max(-(-sum(w for *_, w in costs) // g), max(w for *_, w in costs)), limit
    while lo < hi:  # the smallest cap that gives at most g runs: an even share
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if len(pack(mid)) <= g else (mid + 1, hi)
    chunks = pack(lo)
    groups = []
    for chunk in chunks:
        group = []
        for i, e in enumerate(structures):
            cs = [c for j, c, _ in chunk if j == i]
            if not cs:
                continue
            lo, hi = cs[0], cs[-1] + 1
            per_channel = e.kernel_entries // e.channels.shape[1] if e.channels.shape[1] else 0
            diagonal = not e.channels.all()
            group.append(
                dataclasses.replace(
                    e,
                    channels=e.channels[:, lo:hi],
                    kernel_entries=e.kernel_entries if diagonal else per_channel * (hi - lo),
                )
            )
        groups.append(group)
    return groups


def _sum_structures(shape: tuple[int, int, int], groups: int) -> list[EdgeStructure]:
    """The summing neurons' inputs: one graded axon from each partial-sum neuron at the
    same position (``groups`` identity edges, weight 1)."""
    c, h, w = shape
    one = EdgeStructure(
        src="partial",
        channels=np.eye(c, dtype=bool),
        rows=np.eye(h, dtype=bool),
        cols=np.eye(w, dtype=bool),
        kernel_entries=1,
        axons_per_source=1,
    )
    return [dataclasses.replace(one, src=f"partial{i}") for i in range(groups)]


# --------------------------------------------------------------------------- mapping


@dataclass
class LayerMapping:
    """One layer's cores; ``partials``: the cores of each partial-sum group of a layer
    whose fan-in is split (empty otherwise: ``cores`` are then the whole layer)."""

    name: str
    kind: str
    neurons: int
    compartments_per_neuron: int
    cores: list[CoreUse] = field(repr=False)
    partials: list[list[CoreUse]] = field(default_factory=list, repr=False)

    @property
    def partial_groups(self) -> int:
        """Partial-sum groups its fan-in is split into (1: not split)."""
        return max(1, len(self.partials))

    @property
    def partial_cores(self) -> int:
        return sum(len(g) for g in self.partials)

    def _all(self) -> list[CoreUse]:
        return self.cores + [u for g in self.partials for u in g]

    @property
    def n_cores(self) -> int:
        return len(self.cores) + self.partial_cores

    @property
    def compartments(self) -> int:
        return sum(u.compartments for u in self._all())

    @property
    def synapses(self) -> int:
        return sum(u.synapses for u in self._all())

    @property
    def synaptic_bytes(self) -> int:
        return sum(u.synaptic_bytes for u in self._all())

    @property
    def fanin_axons(self) -> int:
        return sum(u.fanin_axons for u in self._all())

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
            "fanin_axons_max": max((u.fanin_axons for u in self._all()), default=0),
            "compartment_util": self.compartments / (n * core.neurons),
            "memory_util": self.synaptic_bytes / (n * core.synaptic_memory_bytes),
            "partial_groups": self.partial_groups,
            "partial_cores": self.partial_cores,
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
    extra_steps: int = 0  # latency the fan-in splits add (split layers on the longest path)

    @property
    def split_layers(self) -> dict[str, int]:
        """Layers whose fan-in is split: name -> partial-sum groups."""
        return {lay.name: lay.partial_groups for lay in self.layers if lay.partials}

    @property
    def partial_cores(self) -> int:
        """Cores of the partial-sum neurons (what the fan-in splits cost)."""
        return sum(lay.partial_cores for lay in self.layers)

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
            "fanin_split": {
                "layers": self.split_layers,
                "partial_cores": self.partial_cores,
                "extra_steps": self.extra_steps,
            },
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


#: Partial-sum group counts tried for a split layer, as multiples of the fewest that fit
#: (more groups mean fewer input axons per partial-sum neuron, so more of them share a
#: core, but more layers of them): the count with the fewest cores in all is kept.
SPLIT_GROUPS_TRIED = (1, 1.5, 2, 3, 4, 6, 8)


def _split_layer(
    name: str,
    kind: str,
    shape: tuple[int, int, int],
    structs: list[EdgeStructure],
    cpn: int,
    limit: int,
    fewest: int,
    ctx: tuple,
) -> LayerMapping:
    """Map a layer whose fan-in is split: partial-sum layers plus the summing layer, with
    the number of groups (``fewest`` times each of ``SPLIT_GROUPS_TRIED``) that needs the
    fewest cores (ties: fewer groups)."""
    bits, weight_model, profile = ctx
    channels = sum(e.channels.shape[1] for e in structs)
    best: LayerMapping | None = None
    error: UserError | None = None
    seen: set[int] = set()
    tried = sorted({min(channels, math.ceil(fewest * f)) for f in SPLIT_GROUPS_TRIED})
    for g in tried:
        groups = split_fanin(structs, limit, g)
        if groups is None or len(groups) in seen:
            continue
        seen.add(len(groups))
        try:
            partials = [
                tile_layer(
                    f"{name} (partial sums {i + 1}/{len(groups)})",
                    shape,
                    _LayerCost(group, 1, bits, weight_model),
                    profile,
                )
                for i, group in enumerate(groups)
            ]
            summing = _LayerCost(_sum_structures(shape, len(groups)), cpn, bits, weight_model)
            uses = tile_layer(name, shape, summing, profile)
        except UserError as exc:  # e.g. synaptic memory: try more groups
            error = error or exc
            continue
        lay = LayerMapping(name, kind, int(np.prod(shape)), cpn, uses, partials)
        if best is None or lay.n_cores < best.n_cores:
            best = lay
    if best is None:
        raise error or UserError(f"layer {name!r} does not fit a {profile.name} core")
    return best


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
    ctx = (bits, weight_model, profile)
    layers = []
    extra: dict[str, int] = {}  # steps the splits add on the longest path to each node
    for name in graph.order():
        node = graph.node(name)
        before = max((extra.get(src, 0) for src, _ in graph.in_edges(name)), default=0)
        extra[name] = before
        if not isinstance(node, NeuronNode | ReadoutNode):
            continue
        cpn = node.n_thresholds + 1 if (form == "cascade" and isinstance(node, NeuronNode)) else 1
        structs = [
            edge_structure(graph, src, e, form)
            for src, e in graph.in_edges(name)
            if src != graph.input_name
        ]
        kind = "neuron" if isinstance(node, NeuronNode) else "readout"
        neurons = int(np.prod(node.shape))
        if neuron_fanin(structs) <= limit:  # below the limit nothing changes
            uses = tile_layer(
                name, node.shape, _LayerCost(structs, cpn, bits, weight_model), profile
            )
            layers.append(LayerMapping(name, kind, neurons, cpn, uses))
            continue
        fewest = split_fanin(structs, limit)
        if fewest is None or not profile.supports_graded:
            why = (
                "one source channel alone is over the limit"
                if fewest is None
                else f"partial sums travel as graded spikes, which {profile.name} lacks"
            )
            try:  # the plain tiler names the broken limits of one neuron
                tile_layer(name, node.shape, _LayerCost(structs, cpn, bits, weight_model), profile)
            except UserError as exc:
                raise UserError(f"{exc} (its fan-in cannot be split: {why})") from None
            raise UserError(f"layer {name!r}: its fan-in cannot be split: {why}")
        layers.append(_split_layer(name, kind, node.shape, structs, cpn, limit, len(fewest), ctx))
        extra[name] = before + 1  # the partial-sum hop
    steps = extra.get(graph.readout_name, 0)
    return MappingResult(profile, form, weight_model, layers, estimated, steps)


# --------------------------------------------------------------------------- latency


def latency(
    graph: SpikingGraph,
    profile: HardwareProfile,
    timesteps: int | None = None,
    mapping: MappingResult | None = None,
    extra_steps: int = 0,
) -> dict:
    """Steps per frame (pipeline depth + T) and time per frame at the profile's step time.

    With ``mapping`` (or its ``extra_steps`` given directly), the pipeline depth includes
    the steps its fan-in splits add (one per partial-sum hop on the longest path)."""
    from lava_spikingunet.graph.timing import pipeline_depth

    T = int(graph.meta.timesteps if timesteps is None else timesteps)
    if mapping is not None:
        extra_steps = mapping.extra_steps
    depth = pipeline_depth(graph) + int(extra_steps)
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
    "neuron_fanin",
    "split_fanin",
    "tile_layer",
]
