"""Temporal-change penalty: teach an I-LIF U-Net a representation that moves little
between consecutive video frames, so that the ``sdnn`` stream sends few changes.

In a stream (docs/semantics.md section 6) a neuron sends when its un-rounded ReLU
``a = relu(u) / theta`` (I-LIF counts) moves by at least ``vth`` counts from what its
targets hold; each message costs its fan-out. For small ``vth`` the stream's held value
is close to the previous frame's ``a``, so a frame's cost is about

    sum_points fanout * #{ |a_t - a_(t-1)| >= vth }.

:class:`TemporalChange` records ``a`` at every point in an ordinary forward of frame
pairs ``(t - 1, t)`` (the I-LIF forward itself is untouched, so each frame keeps its
static loss and result) and :meth:`TemporalChange.synops_per_mac` gives the smooth
stand-in ``g(d) = d / (d + vth)`` of ``[d >= vth]`` (a reweighted L1 that pushes small
changes to zero, as the ``graded`` synop penalty does for small counts), weighted by
fan-out, per dense ANN MAC. Unlike :mod:`lava_spikingunet.ann.delta` no send-on-change
is emulated in the forward: the stream's lag is left to a small ``vth`` at inference.
"""

from __future__ import annotations

import torch
from torch import nn

from lava_spikingunet.ann.ilif import fanouts, ilif_points


class TemporalChange:
    """Records each I-LIF point's un-rounded activation (counts) of the last forward.

    The forward's batch must hold frame pairs back to back: ``(B * 2, C, H, W)`` from
    ``clips.flatten(0, 1)`` with ``clips`` ``(B, 2, C, H, W)``.
    """

    def __init__(self, model: nn.Module, vth: float) -> None:
        self.points = ilif_points(model)
        if not self.points:
            raise ValueError("the temporal penalty needs an I-LIF U-Net (activation 'ilif')")
        if not vth > 0:
            raise ValueError(f"vth must be > 0 counts, got {vth}")
        self.model = model
        self.vth = float(vth)
        self.fan = fanouts(model)
        self.acts: dict[str, torch.Tensor] = {}
        self._macs: dict[tuple[int, int], int] = {}
        self._paused = False  # while a MAC count runs its own forward
        self._handles = [
            mod.register_forward_hook(self._hook(name)) for name, mod in self.points.items()
        ]

    def _hook(self, name: str):
        def hook(module, inputs, output):
            if not self._paused:
                self.acts[name] = torch.relu(inputs[0]) / module.theta.detach()

        return hook

    def synops_per_mac(self) -> torch.Tensor:
        """Smooth message cost of frame ``t`` after frame ``t - 1`` per ANN MAC
        (differentiable), averaged over the pairs of the last forward."""
        pairs, hw = self._pairs()
        changes = {}
        for name, a in self.acts.items():
            a = a.reshape(pairs, 2, *a.shape[1:])
            changes[name] = (a[:, 1] - a[:, 0]).abs()
        return self._smooth_cost(changes) / (pairs * self._macs_of(hw))

    def active_per_mac(self) -> torch.Tensor:
        """Smooth cost of a frame sent alone (``g`` of every un-rounded activation, so
        ``[a >= vth]`` in the limit: what a frame from rest sends) per ANN MAC
        (differentiable), averaged over the frames of the last forward."""
        pairs, hw = self._pairs()
        return self._smooth_cost(self.acts) / (2 * pairs * self._macs_of(hw))

    def _smooth_cost(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """``sum_points fanout * sum g(values)`` with ``g(v) = v / (v + vth)``."""
        terms = [self.fan[n] * (v / (v + self.vth)).sum() for n, v in values.items()]
        return torch.stack(terms).sum()

    def _pairs(self) -> tuple[int, tuple[int, int]]:
        if len(self.acts) != len(self.points):
            raise RuntimeError("no forward has run since the penalty was attached")
        first = self.acts["enc0.c1"]
        if first.shape[0] % 2:
            raise ValueError(f"the batch must hold frame pairs, got {first.shape[0]} frames")
        return first.shape[0] // 2, (int(first.shape[-2]), int(first.shape[-1]))

    def _macs_of(self, hw: tuple[int, int]) -> int:
        if hw not in self._macs:
            self._paused = True
            try:
                self._macs[hw] = self.model.count_macs(*hw)
            finally:
                self._paused = False
        return self._macs[hw]

    def remove(self) -> None:
        """Detach the hooks."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self.acts = {}


def attach_temporal(model: nn.Module, vth: float) -> TemporalChange:
    """Record the activations the temporal-change penalty (``vth`` counts) needs."""
    return TemporalChange(model, vth)


def temporal_loss(
    model: nn.Module,
    probe: TemporalChange,
    clips: torch.Tensor,
    labels: torch.Tensor,
    ignore_index: int,
    weight: float,
    active: float = 0.0,
) -> tuple[torch.Tensor, float]:
    """Cross-entropy over both frames of ``clips`` ``(B, 2, C, H, W)`` (labels
    ``(B, 2, H, W)``), each frame alone, plus ``weight`` times the smooth change cost of
    the second frame after the first, plus ``active`` times the frames' smooth cost
    alone (:meth:`TemporalChange.active_per_mac`). Returns ``(loss, change cost)``."""
    import torch.nn.functional as F

    if clips.ndim != 5 or clips.shape[1] != 2:
        raise ValueError(f"clips must be frame pairs (B, 2, C, H, W), got {tuple(clips.shape)}")
    y = model(clips.flatten(0, 1))
    ce = F.cross_entropy(y, labels.flatten(0, 1), ignore_index=ignore_index)
    cost = probe.synops_per_mac()
    loss = ce + weight * cost
    if active:
        loss = loss + active * probe.active_per_mac()
    return loss, float(cost.detach())
