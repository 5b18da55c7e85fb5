"""I-LIF activations: integer-valued training for one-timestep Spiking-UNets.

SpikeYOLO's I-LIF neuron (Luo et al., ECCV 2024; DESIGN.md section 9) at ``T = 1`` is a
quantized, clipped ReLU. Per activation point with threshold ``theta``:

    forward:   s = round(clamp(u / theta, 0, D))      (integer count, emitted as s * theta)
    backward:  du = dout * [0 <= u / theta <= D]        (straight-through, masked outside)

``round`` is *round half up*, ``floor(x + 1/2)``: that is what the MT neuron with the
half-quantum bias shift computes (``k = clamp(floor(v / theta_N), 0, 2^N - 1)`` with
``v = u / theta * theta_N + theta_N / 2``), so an I-LIF U-Net converts to a Spiking-UNet
at ``T = 1`` with no conversion error (docs/ilif.md). ``D = 2^N - 1`` maps the layer
onto an MT neuron with ``N`` thresholds.

``theta`` is *learned* per layer, initialised by calibration (:func:`calibrate_thetas`):
a learned step lets training trade resolution for sparsity (a coarser step rounds more
small activations to 0, fewer synaptic ops) under the synop penalty, which a frozen
calibrated step cannot. It is parameterised as ``log theta`` so that Adam's steps are
relative and ``theta`` stays positive; its gradient is LSQ's (Esser et al. 2020):
``d out / d theta = s - u / theta`` inside the range, ``D`` above it, ``0`` below.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lava_spikingunet.neuron_forms import NEURON_FORMS as FORMS
from lava_spikingunet.profiling.synops import events

#: The count levels D an MT neuron can emit in one step: 2^N - 1 for N = 1..8.
VALID_LEVELS = tuple(2**n - 1 for n in range(1, 9))


def levels_to_thresholds(levels: int) -> int:
    """``N`` with ``2^N - 1 = levels``; a clear error for any other value."""
    if levels not in VALID_LEVELS:
        raise ValueError(
            f"I-LIF levels D must be 2^N - 1 for N = 1..8 ({', '.join(map(str, VALID_LEVELS))}), "
            f"got {levels}"
        )
    return int(math.log2(levels + 1))


def ilif_count(u: torch.Tensor, theta: torch.Tensor | float, levels: int) -> torch.Tensor:
    """The integer count ``floor(clamp(u / theta, 0, D) + 1/2)`` (no gradient)."""
    return torch.floor(torch.clamp(u / theta, 0, levels) + 0.5)


class ILIF(nn.Module):
    """One activation point: returns ``s * theta`` and keeps the counts of the last call.

    ``self.counts`` holds the last forward's integer counts (with the straight-through
    graph, for the synop penalty) while :attr:`record` is true.
    """

    def __init__(self, levels: int, theta: float = 0.1) -> None:
        super().__init__()
        levels_to_thresholds(levels)
        self.levels = int(levels)
        self.log_theta = nn.Parameter(torch.tensor(math.log(theta), dtype=torch.float32))
        self.record = False
        self.counts: torch.Tensor | None = None

    @property
    def theta(self) -> torch.Tensor:
        return self.log_theta.exp()

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        theta = self.theta
        if not torch.is_grad_enabled():
            s = ilif_count(u, theta, self.levels)
            self.counts = s if self.record else None
            return s * theta
        x = u / theta.detach()
        s = torch.floor(torch.clamp(x, 0, self.levels) + 0.5).detach()
        # LSQ step gradient: d(s * theta)/d theta = s - x inside, D above, 0 below.
        above = (x > self.levels).to(u.dtype)
        inside = ((x >= 0) & (x <= self.levels)).to(u.dtype)
        step_grad = (s - x.detach()) * inside + self.levels * above
        out = s * theta.detach() + (u - u.detach()) * inside
        out = out + (theta - theta.detach()) * step_grad
        self.counts = None
        if self.record:
            # the count with a straight-through gradient w.r.t. u, and w.r.t. theta (a
            # coarser step means fewer counts), for the synop penalty
            x_live = u / theta
            self.counts = s + (x_live - x_live.detach()) * inside
        return out

    def extra_repr(self) -> str:
        return f"levels={self.levels}, theta={float(self.theta):.4g}"


def point_key(name: str) -> str:
    """ModuleDict key of an activation point (``enc0.c1`` -> ``enc0_c1``)."""
    return name.replace(".", "_")


def ilif_points(model: nn.Module) -> dict[str, ILIF]:
    """The I-LIF modules of a U-Net by activation point name (empty for a ReLU U-Net)."""
    table = getattr(model, "ilif", None)
    if table is None:
        return {}
    return {key.replace("_", "."): mod for key, mod in table.items()}


def fanouts(model: nn.Module) -> dict[str, int]:
    """Synapses one activation element reaches (interior, structural), per point.

    Each consumer conv of a point contributes ``C_out * k * k`` (a transposed conv the
    same, from its weight ``(C_in, C_out, k, k)``), a 2x2 avg-pool 1. This is the
    per-element fan-out of the graph's edges away from the frame border
    (docs/profiling.md counts borders exactly).
    """
    depth = model.config.depth

    def conv(m: nn.Module) -> int:
        w = m.weight
        out = w.shape[1] if isinstance(m, nn.ConvTranspose2d) else w.shape[0]
        return int(out * w.shape[2] * w.shape[3])

    out: dict[str, int] = {}
    for i in range(depth + 1):
        out[f"enc{i}.c1"] = conv(model.enc[i].conv2)
        if i > 0:
            out[f"pool{i}"] = conv(model.enc[i].conv1)
        if i < depth:
            out[f"enc{i}.c2"] = 1 + conv(model.dec[i].conv1)
        else:
            out[f"enc{i}.c2"] = conv(model.up[i - 1])
    for i in range(depth):
        out[f"up{i}"] = conv(model.dec[i].conv1)
        out[f"dec{i}.c1"] = conv(model.dec[i].conv2)
        out[f"dec{i}.c2"] = conv(model.up[i - 1]) if i > 0 else conv(model.head)
    return out


def record_counts(model: nn.Module, on: bool = True) -> None:
    """Keep (or stop keeping) each I-LIF point's counts of the last forward."""
    for mod in ilif_points(model).values():
        mod.record = on
        if not on:
            mod.counts = None


#: What the synop penalty counts per element: ``virtual`` the count ``k`` (accumulate
#: synops of the virtual form), ``graded`` the saturating ``k / (k + 1)`` (a smooth
#: stand-in for ``[k > 0]``, the graded form's one event per non-zero count, within a
#: factor 2 of it for every ``k >= 1``; its gradient is that of a reweighted L1, each
#: count weighted by ``1 / (k + 1)`` at its current value).
PENALTY_FORMS = ("virtual", "graded")


def synops_per_mac(model: nn.Module, form: str = "virtual") -> torch.Tensor:
    """Synaptic ops of the last forward per ANN MAC (differentiable): the synop penalty.

    ``sum_l fanout_l * sum(f(counts_l)) / (batch * MACs)`` with ``f(k) = k`` (``form =
    "virtual"``: exactly the accumulate synops of the virtual form away from the border,
    an upper bound of the graded form's) or ``f(k) = k / (k + 1)`` (``"graded"``: pushes
    small counts to zero, where a graded event is saved, and leaves large ones nearly
    alone). Counts are weighted by what they cost downstream, not just by how many there
    are. Needs :func:`record_counts` before the forward.
    """
    if form not in PENALTY_FORMS:
        raise ValueError(f"penalty form must be one of {PENALTY_FORMS}, got {form!r}")
    points = ilif_points(model)
    fan = fanouts(model)
    total = None
    batch, hw = None, None
    for name, mod in points.items():
        if mod.counts is None:
            raise RuntimeError("no recorded counts: call record_counts(model) before forward")
        c = mod.counts
        if name == "enc0.c1":
            batch, hw = c.shape[0], (c.shape[-2], c.shape[-1])
        if form == "graded":
            c = c / (c.detach().clamp(min=0) + 1)
        term = fan[name] * c.sum()
        total = term if total is None else total + term
    assert batch is not None and hw is not None and total is not None
    macs = model.count_macs(*hw)
    return total / (batch * macs)


@torch.no_grad()
def calibrate_thetas(
    model: nn.Module, inputs: list[torch.Tensor], percentile: float = 99.9
) -> dict:
    """Set every point's ``theta`` to ``percentile(relu activation) / D`` (init only).

    The model runs with its I-LIF points passing ReLU activations through, so the
    statistics are those of the float network whose weights the I-LIF one starts from.
    """
    points = ilif_points(model)
    seen: dict[str, list[torch.Tensor]] = {n: [] for n in points}
    gen = torch.Generator().manual_seed(0)

    def passthrough(name: str):
        def hook(module, args, output):
            a = torch.relu(args[0]).reshape(-1)
            keep = torch.randperm(a.numel(), generator=gen)[: 1 << 18]
            seen[name].append(a[keep])
            return torch.relu(args[0])

        return hook

    handles = [mod.register_forward_hook(passthrough(n)) for n, mod in points.items()]
    was_training = model.training
    model.eval()
    try:
        for x in inputs:
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    thetas = {}
    for name, mod in points.items():
        values = torch.cat(seen[name])
        p = float(torch.quantile(values[: 1 << 24], percentile / 100))
        theta = max(p, 1e-6) / mod.levels
        mod.log_theta.fill_(math.log(theta))
        thetas[name] = theta
    return thetas


def thetas(model: nn.Module) -> dict[str, float]:
    """Each point's step ``theta`` (float units of the U-Net's activations)."""
    return {n: float(mod.theta.detach()) for n, mod in ilif_points(model).items()}


@torch.no_grad()
def synop_rates(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Synops per ANN MAC of one forward on ``x`` in the three deployed forms.

    Per point, events times fan-out (interior, as :func:`fanouts`): ``graded`` one event
    per non-zero count, ``cascade`` ``popcount(k)`` binary spikes, ``virtual`` ``k``
    binary spikes. The graph profiler (docs/profiling.md) counts borders exactly; this
    is the training-time estimate.
    """
    fan = fanouts(model)
    was_training = model.training
    model.eval()
    record_counts(model, True)
    try:
        model.forward_unpadded(x)
        rates = {form: 0.0 for form in FORMS}
        for name, mod in ilif_points(model).items():
            k = mod.counts.to(torch.int64)
            n = levels_to_thresholds(mod.levels)
            for form in FORMS:
                rates[form] += fan[name] * float(events(k, form, n).sum())
    finally:
        record_counts(model, False)
        model.train(was_training)
    macs = model.count_macs(x.shape[-2], x.shape[-1]) * x.shape[0]
    return {k: v / macs for k, v in rates.items()}
