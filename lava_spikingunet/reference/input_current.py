"""Static coding: the input current of the first layer, computed once per frame on the host.

``I0 = conv(x) + b`` in float64, then ``I0_int = clip(round_half_even(I0 * S), state)``
with ``S`` the target node's scale (docs/semantics.md section 4). Pure numpy, no torch:
Lava's encoder process calls the same function, so the reference and Lava are fed the
same integer tensor.

The convolution is a fixed sequence of elementwise IEEE operations (one multiply and one
add per kernel tap, taps in a fixed order), not a BLAS call: every platform and thread
count gives bit-identical floats, so the rounding to integers is reproducible too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lava_spikingunet.graph.ir import ConvEdge, NeuronNode, SpikingGraph


def static_edges(graph: SpikingGraph) -> list[tuple[str, ConvEdge]]:
    """``(target, edge)`` for each static edge out of the input node."""
    out = []
    for src, dst, e in graph.edges():
        if src == graph.input_name:
            if not (isinstance(e, ConvEdge) and e.static):
                raise ValueError(f"edge {src}->{dst} from the input must be a static conv")
            out.append((dst, e))
    return out


def size_multiple(graph: SpikingGraph) -> int:
    """Frame sides must divide by this: the product of the pooling kernels (2^depth)."""
    return graph.size_multiple()


def check_frames(graph: SpikingGraph, x: Any, exact_size: bool = False) -> np.ndarray:
    """Frames as float64 ``(B, C, H, W)``; ValueError on a wrong shape or non-finite values.

    Frame sides must divide by :func:`size_multiple`; with ``exact_size`` they must equal
    the graph's input size (what a deployed network was built for).
    """
    arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
    if arr.ndim == 3:
        arr = arr[None]
    shape = graph.node(graph.input_name).shape
    if arr.ndim != 4:
        raise ValueError(f"frames must be (C, H, W) or (B, C, H, W), got shape {arr.shape}")
    if arr.shape[1] != shape[0]:
        raise ValueError(f"model expects {shape[0]} input channel(s), frames have {arr.shape[1]}")
    h, w = arr.shape[2:]
    if exact_size and (h, w) != tuple(shape[1:]):
        raise ValueError(f"model was built for {shape[1]}x{shape[2]} frames, got {h}x{w}")
    m = size_multiple(graph)
    if h % m or w % m:
        raise ValueError(f"frame sides must divide by {m} (2^depth), got {h}x{w}; pad the frame")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"frames must be real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("frames contain NaN or infinite values")
    return arr


def conv2d_host(x: np.ndarray, weight: np.ndarray, stride: int = 1, padding: int = 0):
    """Deterministic float64 cross-correlation ``(B, C_in, H, W) -> (B, C_out, H', W')``."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    b, c_in, h, wd = x.shape
    c_out, _, k, _ = w.shape
    ho, wo = (h + 2 * padding - k) // stride + 1, (wd + 2 * padding - k) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.zeros((b, c_out, ho, wo), dtype=np.float64)
    for ci in range(c_in):
        for i in range(k):
            for j in range(k):
                patch = xp[
                    :,
                    ci,
                    i : i + stride * (ho - 1) + 1 : stride,
                    j : j + stride * (wo - 1) + 1 : stride,
                ]
                out += w[:, ci, i, j][None, :, None, None] * patch[:, None]
    return out


def input_current_float(graph: SpikingGraph, x: Any, target: str | None = None) -> np.ndarray:
    """``conv(x) + b`` of the static edge into ``target``, float units, float64."""
    frames = check_frames(graph, x)
    dst, edge = _pick(graph, target)
    node = graph.node(dst)
    cur = conv2d_host(frames, edge.weight, edge.stride, edge.padding)
    return cur + node.bias[None, :, None, None]


def input_current(graph: SpikingGraph, x: Any, target: str | None = None) -> np.ndarray:
    """``I0_int`` (int64 ``(B, C, H, W)``) for the static edge into ``target``.

    Needs a quantized target node (``theta_unit_int`` set) and the state bounds of the
    graph's fixed-point format.
    """
    from lava_spikingunet.fixed_point.state import graph_format

    dst, _ = _pick(graph, target)
    node = graph.node(dst)
    if not isinstance(node, NeuronNode) or node.scale is None:
        raise ValueError(f"static input target {dst!r} is not a quantized neuron node")
    lo, hi = graph_format(graph).state_range
    cur = input_current_float(graph, x, dst) * node.scale
    return np.clip(np.rint(cur), lo, hi).astype(np.int64)


def _pick(graph: SpikingGraph, target: str | None) -> tuple[str, ConvEdge]:
    edges = static_edges(graph)
    if target is not None:
        edges = [(d, e) for d, e in edges if d == target]
    if len(edges) != 1:
        raise ValueError(f"expected one static input edge{f' into {target!r}' if target else ''}")
    return edges[0]
