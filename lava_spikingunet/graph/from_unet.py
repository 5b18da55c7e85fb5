"""Build the :class:`SpikingGraph` of a trained U-Net, given activation scales.

Activation points (where a spiking neuron sits) are named ``enc{i}.c1``,
``enc{i}.c2``, ``pool{i}``, ``up{i}``, ``dec{i}.c1``, ``dec{i}.c2``; the readout is
``head`` and the image ``input``. Normalization (Diehl et al., as in the paper): a
neuron layer whose ANN activation has scale ``lam`` represents ``a / lam``; an edge from
source ``s`` (spike count ``k``, value ``k * theta_N``) into target ``d`` carries
``W * lam_s * theta_N_s / lam_d`` and the target's bias is ``b / lam_d``. The readout
is not normalized: its edge carries ``W * lam_s * theta_N_s`` and its bias ``b``.

Layer-wise versus connection-wise normalization is only a choice of ``lam``
(:mod:`lava_spikingunet.conversion.normalize`); both give exact graphs, differing in how
finely each source's activations are resolved at short T.
"""

from __future__ import annotations

import numpy as np
import torch

from lava_spikingunet.ann.unet import UNet, activation_points
from lava_spikingunet.graph.ir import (
    AvgPoolEdge,
    ConvEdge,
    ConvTransposeEdge,
    GraphMeta,
    InputNode,
    NeuronNode,
    ReadoutNode,
    SpikingGraph,
)
from lava_spikingunet.graph.timing import set_native_delays


def activation_shapes(unet: UNet, height: int, width: int) -> dict[str, tuple[int, int, int]]:
    """(C, H, W) of each activation point for an ``height x width`` input."""
    d, w = unet.config.depth, unet.widths
    shapes: dict[str, tuple[int, int, int]] = {}
    for i in range(d + 1):
        h_i, w_i = height >> i, width >> i
        if i > 0:
            shapes[f"pool{i}"] = (w[i - 1], h_i, w_i)
        shapes[f"enc{i}.c1"] = shapes[f"enc{i}.c2"] = (w[i], h_i, w_i)
    for i in range(d):
        h_i, w_i = height >> i, width >> i
        shapes[f"up{i}"] = shapes[f"dec{i}.c1"] = shapes[f"dec{i}.c2"] = (w[i], h_i, w_i)
    return shapes


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def unet_to_graph(
    unet: UNet,
    height: int,
    width: int,
    lambdas: dict[str, float] | None = None,
    n_thresholds: int = 4,
    theta1: float = 2.0,
    timesteps: int = 10,
    reset: str = "subtract",
) -> SpikingGraph:
    """The Spiking-UNet graph of ``unet`` for frames of ``height x width``.

    ``lambdas`` maps activation points to their normalization scale (1.0 if absent).
    Edges get Lava's native delays (1 per synapse, 0 for the static input).
    """
    cfg = unet.config
    m = unet.size_multiple
    if height % m or width % m:
        raise ValueError(f"frame {height}x{width} must divide by 2^depth = {m}; pad it first")
    lam = {n: 1.0 for n in activation_points(cfg.depth)}
    lam.update(lambdas or {})
    shapes = activation_shapes(unet, height, width)
    theta_unit = theta1 / 2 ** (n_thresholds - 1)
    task = "denoise" if cfg.residual else "segment"
    graph = SpikingGraph(GraphMeta(task=task, timesteps=timesteps))
    graph.meta.extra.update(unet_config=cfg.to_dict(), lambdas=dict(lam))
    graph.add_node("input", InputNode((cfg.in_channels, height, width)))

    def neuron(name: str, bias: torch.Tensor | None) -> None:
        c = shapes[name][0]
        b = np.zeros(c) if bias is None else _np(bias) / lam[name]
        graph.add_node(
            name,
            NeuronNode(shapes[name], b, n_thresholds, theta1, reset=reset),  # type: ignore[arg-type]
        )

    def gain(src: str, dst: str | None) -> float:
        """Factor from the source's spike count to the target's units."""
        g = lam[src] * theta_unit if src != "input" else 1.0
        return g / lam[dst] if dst is not None else g

    def conv(src: str, dst: str, weight: torch.Tensor, static: bool = False) -> None:
        k = weight.shape[-1]
        w = _np(weight) * gain(src, dst if dst != "head" else None)
        graph.add_edge(src, dst, ConvEdge(weight=w, padding=k // 2, static=static))

    for i, block in enumerate(unet.enc):
        c1, c2 = f"enc{i}.c1", f"enc{i}.c2"
        if i == 0:
            src = "input"
        else:
            src = f"pool{i}"
            neuron(src, None)
            prev = f"enc{i - 1}.c2"
            graph.add_edge(prev, src, AvgPoolEdge(weight=0.25 * gain(prev, src)))
        neuron(c1, block.conv1.bias)
        conv(src, c1, block.conv1.weight, static=(i == 0))
        neuron(c2, block.conv2.bias)
        conv(c1, c2, block.conv2.weight)
    below = f"enc{cfg.depth}.c2"
    for i in reversed(range(cfg.depth)):
        up, c1, c2, skip = f"up{i}", f"dec{i}.c1", f"dec{i}.c2", f"enc{i}.c2"
        neuron(up, unet.up[i].bias)
        w_up = _np(unet.up[i].weight) * gain(below, up)
        graph.add_edge(below, up, ConvTransposeEdge(weight=w_up))
        neuron(c1, unet.dec[i].conv1.bias)
        w = unet.dec[i].conv1.weight
        n_skip = unet.widths[i]
        conv(skip, c1, w[:, :n_skip])  # concat part 1: the skip
        conv(up, c1, w[:, n_skip:])  # concat part 2: the upsampled path
        neuron(c2, unet.dec[i].conv2.bias)
        conv(c1, c2, unet.dec[i].conv2.weight)
        below = c2
    graph.add_node("head", ReadoutNode((cfg.out_channels, height, width), _np(unet.head.bias)))
    conv(below, "head", unet.head.weight)
    set_native_delays(graph)
    graph.validate()
    return graph
