"""I-LIF U-Net -> one-timestep Spiking-UNet, with no conversion error (docs/ilif.md).

An I-LIF point with step ``theta`` and ``D = 2^N - 1`` levels emits
``s = floor(clamp(u / theta, 0, D) + 1/2)``. The MT neuron with ``N`` thresholds on the
ladder ``{1, ..., theta_N = 2^-(N-1)}`` whose layer is normalized by
``lambda = theta / theta_N`` and whose bias carries the half-quantum shift
``theta_N / 2`` emits at ``T = 1`` ``k = clamp(floor(u / theta + 1/2), 0, D)``: the same
count. So the converted graph at ``T = 1`` *is* the I-LIF network; after quantization
its integer reference equals :func:`integer_ilif_forward` (the I-LIF network run with
the quantized weights, in integer units) exactly.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from lava_spikingunet.ann.ilif import levels_to_thresholds, thetas
from lava_spikingunet.ann.unet import UNet
from lava_spikingunet.conversion.convert import ConversionConfig
from lava_spikingunet.graph.from_unet import unet_to_graph
from lava_spikingunet.graph.ir import InputNode, NeuronNode, SpikingGraph
from lava_spikingunet.graph.ops import apply_edge
from lava_spikingunet.graph.timing import balance_delays

#: An I-LIF Spiking-UNet runs one timestep per frame.
ILIF_TIMESTEPS = 1


def is_ilif(unet: UNet) -> bool:
    return unet.config.activation == "ilif"


def convert_ilif(unet: UNet, height: int, width: int) -> SpikingGraph:
    """The ``T = 1`` Spiking-UNet graph of an I-LIF U-Net for ``height x width`` frames."""
    if not is_ilif(unet):
        raise ValueError("convert_ilif needs a U-Net with I-LIF activations (activation='ilif')")
    levels = unet.config.levels
    n = levels_to_thresholds(levels)
    theta_unit = 2.0 ** -(n - 1)  # theta1 = 1
    with torch.no_grad():
        steps = thetas(unet)
    lambdas = {name: theta / theta_unit for name, theta in steps.items()}
    graph = unet_to_graph(
        unet, height, width, lambdas, n_thresholds=n, theta1=1.0, timesteps=ILIF_TIMESTEPS
    )
    for name in graph.neurons():
        node = graph.node(name)
        node.bias = node.bias + node.theta_unit / 2  # floor -> round (half up)
    # One step per frame: every input of a node must arrive in the same step, so the
    # skips get their balancing delays here (a frame costs pipeline depth + 1 steps).
    balance_delays(graph)
    cfg = ConversionConfig(
        norm="connection",
        percentile=100.0,
        n_thresholds=n,
        theta1=1.0,
        timesteps=ILIF_TIMESTEPS,
        bias_shift=True,
    )
    graph.meta.extra.update(
        conversion=asdict(cfg) | {"method": "ilif", "levels": levels},
        ilif={"levels": levels, "thetas": steps},
    )
    return graph


@torch.no_grad()
def integer_ilif_forward(graph: SpikingGraph, current: Any) -> dict[str, torch.Tensor]:
    """The I-LIF network with the graph's quantized weights, in integer units, one step.

    Per neuron node: ``u = sum_e shift(m_e (*) s_src, exp_e) + b_int`` (the first layer:
    the static input current ``I0_int``, bias inside), saturated to the state range, and
    ``s = clamp(floor(u / theta_int), 0, D)``; the readout is ``sat(sum_e ... + b_int)``.
    A plain graph walk in float64 (every value an exact integer below 2^53), written
    independently of the time-vectorized reference so that the two check each other.
    Returns the counts of every neuron node and the readout (``"head"``), int64.
    """
    from lava_spikingunet.fixed_point.quantize import graph_format

    lo, hi = graph_format(graph).state_range
    i0 = torch.as_tensor(np.asarray(current), dtype=torch.float64)
    if i0.ndim == 3:
        i0 = i0[None]
    out: dict[str, torch.Tensor] = {}
    for name in graph.order():
        node = graph.node(name)
        if isinstance(node, InputNode):
            continue
        u = None
        for src, e in graph.in_edges(name):
            if getattr(e, "static", False):
                c = i0.clone()
            else:
                w = torch.as_tensor(np.asarray(e.mant), dtype=torch.float64)
                c = apply_edge(e, out[src], w) * 2.0 ** int(e.exp)
                c = torch.floor(c)
            u = c if u is None else u + c
        assert u is not None
        static_target = any(getattr(e, "static", False) for _, e in graph.in_edges(name))
        if not static_target:
            b = torch.as_tensor(np.asarray(node.bias_int), dtype=torch.float64)
            u = u + b.reshape(1, -1, 1, 1)
        u = u.clamp(lo, hi)
        if isinstance(node, NeuronNode):
            theta = float(node.theta_unit_int)
            out[name] = torch.floor(u / theta).clamp(0, node.max_count)
        else:
            out[name] = u
    return {k: v.to(torch.int64) for k, v in out.items()}
