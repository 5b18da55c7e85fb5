"""PNG figures of a profile (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: Most points per panel of the activation/rate scatter (randomly subsampled beyond).
MAX_POINTS = 20000
#: Most neurons shown in a raster.
MAX_RASTER = 200


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> Path:
    from lava_spikingunet.fileio import atomic_path

    path = Path(path)
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def plot_layers(report: dict[str, Any], path: str | os.PathLike) -> Path:
    """Bar charts per layer: synops (graded, cascade, virtual) and firing rates."""
    plt = _plt()
    rows = report["layers"]
    names = [r["layer"] for r in rows]
    x = np.arange(len(rows))
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(max(6, 0.55 * len(rows) + 2), 7), sharex=True)
    w = 0.28
    a1.bar(x - w, [r["synops_graded"] for r in rows], w, label="graded")
    a1.bar(x, [r["synops_cascade"] for r in rows], w, label="binary cascade")
    a1.bar(x + w, [r.get("synops_virtual", 0) for r in rows], w, label="virtual steps")
    a1.set_yscale("symlog", linthresh=1)
    a1.set_ylabel("synaptic ops / frame (received)")
    fr = report["frame"]
    virtual = f" / {fr['virtual']['synops']:.3g} virtual" if "virtual" in fr else ""
    a1.set_title(
        f"{report['profile']}: {fr['graded']['synops']:.3g} graded / "
        f"{fr['cascade']['synops']:.3g} cascade{virtual} synops per frame, "
        f"ANN {fr['ann_macs']:.3g} MACs"
    )
    a1.legend()
    neurons = [r for r in rows if r["kind"] == "neuron"]
    xn = np.array([names.index(r["layer"]) for r in neurons])
    a2.bar(xn - w, [r["rate_graded"] for r in neurons], w, label="graded events / neuron-step")
    a2.bar(xn, [r["rate_binary"] for r in neurons], w, label="binary spikes / stage-step")
    a2.bar(
        xn + w,
        [r.get("rate_virtual", 0) for r in neurons],
        w,
        label="virtual spikes / neuron-sub-step",
    )
    a2.plot(xn, [r["mean_count"] for r in neurons], "k.", label="mean k / neuron-step")
    a2.set_ylabel("firing rate")
    a2.legend(fontsize=8)
    a2.set_xticks(x, names, rotation=60, ha="right")
    fig.tight_layout()
    return _save(fig, path)


def plot_raster(
    counts: torch.Tensor, layer: str, start: int, timesteps: int, path: str | os.PathLike
) -> Path:
    """A layer's activity: raster of its busiest neurons, rate map, spikes per step.

    ``counts``: ``(T_total, B, C, H, W)`` spike counts of the layer (frame 0 is shown).
    """
    plt = _plt()
    k = counts[:, 0].to(torch.float64)  # (T, C, H, W)
    steps = k.shape[0]
    flat = k.flatten(1)  # (T, neurons)
    busiest = torch.argsort(flat.sum(0), descending=True)[:MAX_RASTER]
    busiest = torch.sort(busiest).values
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    t_idx, n_idx = torch.nonzero(flat[:, busiest], as_tuple=True)
    sizes = flat[:, busiest][t_idx, n_idx]
    sc = axes[0].scatter(t_idx, n_idx, c=sizes, s=6 + 4 * sizes, cmap="viridis", marker="|")
    fig.colorbar(sc, ax=axes[0], label="spike count k")
    axes[0].axvspan(start - 0.5, start + timesteps - 0.5, color="0.9", zorder=-1)
    axes[0].set_xlim(-0.5, steps - 0.5)
    axes[0].set_xlabel("step")
    axes[0].set_ylabel(f"neuron (busiest {len(busiest)} of {flat.shape[1]})")
    axes[0].set_title(f"{layer}: raster (shaded: window of T steps)")
    rate = k.mean(0).mean(0).numpy()  # (H, W): mean k per step, averaged over channels
    im = axes[1].imshow(rate, cmap="magma")
    fig.colorbar(im, ax=axes[1], label="mean k per step (channel mean)")
    axes[1].set_title(f"{layer}: rate map")
    per_step = flat.sum(1).numpy()
    binary = torch.zeros_like(flat)
    kk = flat.to(torch.int64)
    while bool(kk.any()):
        binary += (kk & 1).to(binary.dtype)
        kk = kk >> 1
    axes[2].plot(per_step, "o-", label="sum k")
    axes[2].plot((flat > 0).sum(1).numpy(), "s-", label="graded events")
    axes[2].plot(binary.sum(1).numpy(), "^-", label="binary spikes")
    axes[2].set_xlabel("step")
    axes[2].set_title(f"{layer}: per step")
    axes[2].legend()
    fig.tight_layout()
    return _save(fig, path)


def plot_activation_vs_rate(
    panels: Sequence[tuple[str, dict[str, torch.Tensor], dict[str, torch.Tensor]]],
    path: str | os.PathLike,
    seed: int = 0,
) -> Path:
    """The paper's Figure 3: ANN activation vs SNN spike rate per neuron, one panel per model.

    Each panel: ``(title, activations, rates)`` with per-node tensors in the same
    normalized units (activation / lambda vs mean ``k * theta_N`` per step).
    """
    plt = _plt()
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 5), squeeze=False)
    for ax, (title, act, rate) in zip(axes[0], panels, strict=True):
        names = [n for n in act if n in rate]
        per = max(1, MAX_POINTS // max(1, len(names)))
        top = 0.0
        for i, n in enumerate(names):
            a = act[n].flatten().numpy()
            r = rate[n].flatten().numpy()
            if a.size > per:
                pick = rng.choice(a.size, per, replace=False)
                a, r = a[pick], r[pick]
            top = max(top, float(a.max(initial=0)), float(r.max(initial=0)))
            ax.scatter(a, r, s=3, alpha=0.4, color=plt.cm.viridis(i / max(1, len(names) - 1)),
                       label=n)  # fmt: skip
        top = top or 1.0
        ax.plot([0, top], [0, top], "k--", lw=1, label="rate = activation")
        ax.set_xlabel("ANN activation (normalized, a / lambda)")
        ax.set_ylabel("SNN spike rate (k * theta_N per step)")
        ax.set_title(title)
        ax.legend(fontsize=6, markerscale=3, ncol=2)
    fig.tight_layout()
    return _save(fig, path)
