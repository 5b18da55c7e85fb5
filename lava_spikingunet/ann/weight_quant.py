"""Weight-aware I-LIF training: the deployed fixed-point weights inside the forward pass.

The converter (:mod:`lava_spikingunet.conversion.ilif`) turns an I-LIF U-Net into a
``T = 1`` Spiking-UNet with no conversion error; what an integer Spiking-UNet then loses
is the rounding of every synaptic edge to ``mant * 2^exp`` with the profile's 8-bit
mantissa and one exponent per edge (``benchmarks/results/ilif_quant_cost_*.md``: all of
the denoisers' gap). This module puts that rounding into training (quantization-aware
fine-tuning): each conv weight is replaced, in the forward pass, by the value the
quantizer will give it, with a straight-through gradient.

What the quantizer rounds is the weight in the target's integer units (docs/ilif.md):

- a conv between activation points ``src -> dst``: ``w * theta_src / theta_dst *
  theta_unit_int`` (the graph's layer normalization times the node scale);
- a decoder's first conv reads ``cat(skip, up)``: two graph edges, two exponents, so the
  two input-channel halves are rounded separately;
- an avg-pool edge: the scalar ``1/4 * theta_src / theta_dst * theta_unit_int``;
- the head (readout): ``w * theta_src`` times a power-of-two readout scale, which only
  shifts the exponent, so it is rounded with a free exponent;
- the first conv reads the static input current (computed on the host in float): kept.

The exponent is chosen as :func:`~lava_spikingunet.fixed_point.quantize.quantize_weights`
chooses it (least squared error; ties to the larger exponent), so that the weights the
network trains with are the weights it deploys (a test checks them edge by edge).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from lava_spikingunet.fixed_point.formats import FixedPointFormat
from lava_spikingunet.fixed_point.quantize import default_theta_unit_bits

#: Exponents searched for the readout, whose power-of-two scale is chosen after training.
_FREE_EXPONENTS = (-40, 40)


def fake_quantize(
    w: torch.Tensor, gain: float, mant_range: tuple[int, int], exp_range: tuple[int, int]
) -> torch.Tensor:
    """``w`` rounded to ``mant 2^exp / gain`` (one exponent, least squared error), with a
    straight-through gradient."""
    with torch.no_grad():
        x = w.detach().double() * gain
        lo, hi = mant_range
        best, best_err = None, None
        if torch.any(x != 0):
            top = float(x.abs().max())
            # only exponents where the largest weight keeps at least one mantissa bit
            e_hi = min(exp_range[1], math.ceil(math.log2(top)) + 1)
            e_lo = max(exp_range[0], e_hi - 40)
            for e in range(max(e_hi, exp_range[0]), e_lo - 1, -1):
                m = torch.clamp(torch.round(torch.ldexp(x, torch.tensor(-e))), lo, hi)
                q = torch.ldexp(m, torch.tensor(e))
                err = float(torch.sum((q - x) ** 2))
                if best_err is None or err < best_err:
                    best, best_err = q, err
        q = (best if best is not None else torch.zeros_like(x)) / gain
    return q.to(w.dtype) + (w - w.detach())  # the value q exactly, the gradient 1


def _edge_table(depth: int, widths: list[int]) -> dict[str, list[tuple[slice | None, str, str]]]:
    """Per conv (or pool) key: ``(input-channel slice, src point, dst point)`` per edge."""
    table: dict[str, list[tuple[slice | None, str, str]]] = {}
    for i in range(depth + 1):
        if i > 0:
            table[f"pool{i}"] = [(None, f"enc{i - 1}.c2", f"pool{i}")]
            table[f"enc{i}.conv1"] = [(None, f"pool{i}", f"enc{i}.c1")]
        table[f"enc{i}.conv2"] = [(None, f"enc{i}.c1", f"enc{i}.c2")]
    below = f"enc{depth}.c2"
    for i in reversed(range(depth)):
        n = widths[i]
        table[f"up{i}"] = [(None, below, f"up{i}")]
        table[f"dec{i}.conv1"] = [
            (slice(0, n), f"enc{i}.c2", f"dec{i}.c1"),
            (slice(n, None), f"up{i}", f"dec{i}.c1"),
        ]
        table[f"dec{i}.conv2"] = [(None, f"dec{i}.c1", f"dec{i}.c2")]
        below = f"dec{i}.c2"
    table["head"] = [(None, below, "head")]
    return table


class WeightQuantizer:
    """Rounds a U-Net's weights to a profile's fixed point on the fly (see module doc).

    Call it as ``quantizer(key, weight)``; ``key`` names a conv (``enc1.conv2``,
    ``dec0.conv1``, ``up2``, ``head``) or a pool (``pool1``, weight = the scalar 1/4).
    Keys it does not know (the first conv) come back unchanged.
    """

    def __init__(self, model: torch.nn.Module, profile: str | FixedPointFormat) -> None:
        from lava_spikingunet.ann.ilif import ilif_points

        self.fmt = FixedPointFormat.from_profile(profile)
        self.unit = float(2 ** default_theta_unit_bits(self.fmt))
        self.points = ilif_points(model)
        if not self.points:
            raise ValueError("weight-aware training needs an I-LIF U-Net (activation='ilif')")
        self.table = _edge_table(model.config.depth, model.widths)

    def _gain(self, src: str, dst: str) -> float:
        theta_src = float(self.points[src].theta.detach())
        if dst == "head":
            return theta_src
        return theta_src / float(self.points[dst].theta.detach()) * self.unit

    def __call__(self, key: str, weight: torch.Tensor) -> torch.Tensor:
        edges = self.table.get(key)
        if edges is None:
            return weight
        parts = []
        for sl, src, dst in edges:
            w = weight if sl is None else weight[:, sl]
            exps = _FREE_EXPONENTS if dst == "head" else self.fmt.weight_exp_range
            parts.append(fake_quantize(w, self._gain(src, dst), self.fmt.weight_mant_range, exps))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


def attach_weight_quant(model: torch.nn.Module, profile: str | FixedPointFormat | None) -> None:
    """Make ``model`` train and evaluate with ``profile``'s fixed-point weights
    (``None``: float weights again). Not stored in the checkpoint: it holds float weights,
    which the converter rounds to exactly the values used here."""
    quantizer: Callable | None = None if profile is None else WeightQuantizer(model, profile)
    model.weight_quant = quantizer
