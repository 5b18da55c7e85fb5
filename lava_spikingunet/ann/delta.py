"""Stream-aware training of an I-LIF U-Net: the ``sdnn`` form's send-on-change in the loop.

In a video stream the ``sdnn`` form (docs/semantics.md section 6) computes every neuron's
un-rounded ReLU ``a = relu(u) / theta`` (in I-LIF counts) and sends a change only when
it differs from what its targets hold by at least ``vth`` counts; the targets then hold
``a`` again (the residue keeps what was not sent). So what a layer passes on is

    s_t = a_t   where |a_t - s_(t-1)| >= vth,   s_(t-1) elsewhere   (s_0 = 0)

and every sent element costs its fan-out in synaptic ops. :func:`attach_delta` puts
exactly that at every activation point of an I-LIF U-Net (forward hooks on its ``ILIF``
modules; the module and its state dict stay as they are, so the checkpoint converts as
before), frame after frame, and counts the messages:

- the gate's gradient is the natural one (to ``a`` where sent, to the held ``s_(t-1)``
  elsewhere), so training sees the lag a stream leaves;
- :meth:`DeltaStream.synops_per_mac` is the differentiable message cost (a sent element
  weighs ``fan-out``; the gradient of the hard ``[|d| >= vth]`` is a sigmoid's around
  the threshold), the penalty that teaches the net changes worth sending.

``cum_error = True`` emulates the stock ``SigmaDelta``'s ``cum_error`` mode instead:
each neuron accumulates its unsent change every frame (``e += a_t - s_(t-1)``) and sends
when ``|e| >= vth``, resetting ``e``; a small change that persists is sent after a few
frames instead of never, which bounds the stream's lasting lag.

``static = True`` runs every forward as a frame alone from the reset state (``s = a``
where ``a >= vth``, else 0: the form's per-frame static result at the same ``vth``), for
evaluation on unrelated images.
"""

from __future__ import annotations

import torch
from torch import nn

from lava_spikingunet.ann.ilif import fanouts, ilif_points

#: Width of the message surrogate, in units of ``vth``: the gradient of ``[|d| >= vth]``
#: is that of ``sigmoid((|d| / vth - 1) / SURROGATE_WIDTH)``.
SURROGATE_WIDTH = 0.25


class DeltaStream:
    """The send-on-change state of every activation point of one U-Net (see module doc).

    ``vth``: the delta threshold in I-LIF counts (one value, or one per point name);
    ``cum_error``: the ``SigmaDelta`` ``cum_error`` mode (module doc). Call :meth:`reset`
    before a new stream; each forward is the stream's next frame.
    """

    def __init__(
        self, model: nn.Module, vth: float | dict[str, float], cum_error: bool = False
    ) -> None:
        self.points = ilif_points(model)
        if not self.points:
            raise ValueError("stream-aware training needs an I-LIF U-Net (activation 'ilif')")
        self.model = model
        self.vth = {n: float(vth[n] if isinstance(vth, dict) else vth) for n in self.points}
        if any(v <= 0 for v in self.vth.values()):
            raise ValueError(f"vth must be > 0 counts, got {vth}")
        self.fan = fanouts(model)
        self.static = False
        self.cum_error = bool(cum_error)
        self.error: dict[str, torch.Tensor] = {}
        self.sent: dict[str, torch.Tensor | None] = dict.fromkeys(self.points)
        self.cost: dict[str, torch.Tensor] = {}
        self._macs: dict[tuple[int, int], int] = {}
        self._off = False  # hooks pass the I-LIF output through (while counting MACs)
        self._handles = [
            mod.register_forward_hook(self._hook(name)) for name, mod in self.points.items()
        ]

    def _hook(self, name: str):
        def hook(module, inputs, output):
            if self._off:
                return None
            theta = module.theta.detach()
            a = torch.relu(inputs[0]) / theta
            prev = None if self.static else self.sent[name]
            if prev is None or prev.shape != a.shape:
                prev = torch.zeros_like(a)
            d = a - prev
            if self.cum_error and not self.static:
                err = self.error.get(name)
                d = d + (err if err is not None and err.shape == d.shape else 0)
            x = d.abs() / self.vth[name]
            hard = x >= 1
            if self.cum_error and not self.static:
                self.error[name] = torch.where(hard, torch.zeros_like(d), d).detach()
            s = torch.where(hard, a, prev)
            soft = torch.sigmoid((x - 1) / SURROGATE_WIDTH)
            sent = hard.to(a.dtype) + soft - soft.detach()
            self.cost[name] = self.fan[name] * sent.sum()
            self.sent[name] = s
            return s * theta

        return hook

    def reset(self) -> None:
        """Start a new stream: nothing sent yet (the form's reset state)."""
        self.sent = dict.fromkeys(self.points)
        self.error = {}
        self.cost = {}

    def synops_per_mac(self) -> torch.Tensor:
        """Synaptic ops of the last frame's messages per dense ANN MAC (differentiable)."""
        if len(self.cost) != len(self.points):
            raise RuntimeError("no frame has run through the stream since the last reset")
        first = self.sent["enc0.c1"]
        assert first is not None
        hw = (int(first.shape[-2]), int(first.shape[-1]))
        if hw not in self._macs:
            self._off = True
            try:
                self._macs[hw] = self.model.count_macs(*hw)
            finally:
                self._off = False
        macs = self._macs[hw]
        return sum(self.cost.values()) / (first.shape[0] * macs)

    def remove(self) -> None:
        """Detach the hooks: the U-Net computes its I-LIF forward again."""
        for h in self._handles:
            h.remove()
        self._handles = []


def attach_delta(
    model: nn.Module, vth: float | dict[str, float], cum_error: bool = False
) -> DeltaStream:
    """Put the ``sdnn`` stream's send-on-change (``vth`` counts) at every I-LIF point."""
    return DeltaStream(model, vth, cum_error)


def stream_loss(
    model: nn.Module,
    stream: DeltaStream,
    clips: torch.Tensor,
    labels: torch.Tensor,
    ignore_index: int,
    penalty: float = 0.0,
    warmup: int = 0,
) -> tuple[torch.Tensor, float]:
    """Cross-entropy over the frames of ``clips`` ``(B, L, C, H, W)`` run as streams
    (``labels`` ``(B, L, H, W)``), plus ``penalty`` times the mean message cost of
    frames 2..L (synops per ANN MAC). Returns ``(loss, cost of frames 2..L)``.

    ``warmup``: the first ``warmup`` frames only bring the stream to a state deep in a
    video (no gradient, no loss): a long stream's held values lag in ways a clip that
    starts from reset does not show."""
    import torch.nn.functional as F

    if clips.ndim != 5 or clips.shape[1] < warmup + 2:
        raise ValueError(
            f"clips must be (B, L >= warmup + 2, C, H, W), got {tuple(clips.shape)} "
            f"with warmup {warmup}"
        )
    stream.static = False
    stream.reset()
    with torch.no_grad():
        for t in range(warmup):
            model(clips[:, t])
    ce, cost = [], []
    for t in range(warmup, clips.shape[1]):
        y = model(clips[:, t])
        ce.append(F.cross_entropy(y, labels[:, t], ignore_index=ignore_index))
        if t:
            cost.append(stream.synops_per_mac())
    rate = torch.stack(cost).mean()
    loss = torch.stack(ce).mean() + penalty * rate
    return loss, float(rate.detach())
