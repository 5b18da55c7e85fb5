"""Record the U-Net's activation statistics over calibration batches.

Forward hooks capture each activation point of
:func:`lava_spikingunet.graph.from_unet.activation_points`: ``enc{i}.c1/c2`` and
``dec{i}.c1/c2`` after their ReLU, ``pool{i}`` the avg-pooled map (the input of
``enc[i]``), ``up{i}`` after the up ReLU. Per point we keep the exact maximum, the
element count and a seeded uniform random subsample of at most ``max_samples`` values
(bottom-k of random keys: an exact uniform sample without replacement over the whole
stream, so memory stays bounded; with ``max_samples=None`` every value is kept and the
percentiles are exact). Percentiles are taken over all values, zeros included.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lava_spikingunet.ann.unet import UNet
from lava_spikingunet.graph.from_unet import activation_points


class ValueSample:
    """Bounded uniform random sample of a stream of values, plus exact max and count.

    Bottom-k sampling: every value gets a uniform random key and the ``max_samples``
    smallest keys are kept. The buffer may grow to twice that between prunes; values
    whose key is not below the last prune's largest kept key can never be kept and are
    dropped on arrival.
    """

    def __init__(self, max_samples: int | None, generator: torch.Generator) -> None:
        self.max_samples = max_samples
        self.generator = generator
        self.values = torch.empty(0)
        self.keys = torch.empty(0)
        self.cutoff = float("inf")
        self.count = 0
        self.max = -float("inf")

    @property
    def exact(self) -> bool:
        """True when every value seen is in the sample."""
        return self.max_samples is None or self.count <= self.max_samples

    def add(self, x: torch.Tensor) -> None:
        v = x.detach().reshape(-1).float().cpu()
        if v.numel() == 0:
            return
        self.count += v.numel()
        self.max = max(self.max, float(v.max()))
        if self.max_samples is None:
            self.values = torch.cat([self.values, v])
            return
        keys = torch.rand(v.numel(), generator=self.generator)
        if self.cutoff < float("inf"):
            keep = keys < self.cutoff
            v, keys = v[keep], keys[keep]
        self.values, self.keys = torch.cat([self.values, v]), torch.cat([self.keys, keys])
        if self.values.numel() > 2 * self.max_samples:
            self.prune()

    def prune(self) -> None:
        """Keep exactly the ``max_samples`` smallest keys."""
        if self.max_samples is None or self.values.numel() <= self.max_samples:
            return
        keys, idx = torch.topk(self.keys, self.max_samples, largest=False, sorted=False)
        self.values, self.keys = self.values[idx], keys
        self.cutoff = float(keys.max())

    def sample(self) -> torch.Tensor:
        self.prune()
        return self.values

    def percentile(self, q: float) -> float:
        return percentile_of([self], q)


def percentile_of(samples: list[ValueSample], q: float) -> float:
    """``q``-th percentile (0..100, linear interpolation) of the union of ``samples``.

    Exact when every sample is exact; for the U-Net's concat parts (equal element
    counts and equal sample sizes) the union of the samples is a uniform sample of the
    concatenated tensor.
    """
    if q >= 100:
        return max(s.max for s in samples)
    values = torch.cat([s.sample() for s in samples]).double().numpy()
    if values.size == 0:
        raise ValueError("no calibration values recorded")
    return float(np.percentile(values, q))


@dataclass
class ActivationStats:
    """Per activation point samples; ``percentile(name, q)`` with ``q=100`` the max."""

    samples: dict[str, ValueSample]
    batches: int = 0
    meta: dict = field(default_factory=dict)

    def percentile(self, names: str | list[str], q: float) -> float:
        names = [names] if isinstance(names, str) else names
        return percentile_of([self.samples[n] for n in names], q)

    def summary(self, q: float = 99.9) -> dict[str, dict[str, float]]:
        """Plain numbers per point (for the graph's meta): percentile, max, count."""
        return {
            n: {"percentile": s.percentile(q), "max": s.max, "count": s.count, "exact": s.exact}
            for n, s in self.samples.items()
        }


def activation_hooks(unet: UNet, record) -> list[torch.utils.hooks.RemovableHandle]:
    """Register hooks calling ``record(name, tensor)`` at every activation point."""

    def after_relu(name: str):
        return lambda module, inputs, output: record(name, F.relu(output))

    handles = []
    for i, block in enumerate(unet.enc):
        handles.append(block.conv1.register_forward_hook(after_relu(f"enc{i}.c1")))
        handles.append(block.conv2.register_forward_hook(after_relu(f"enc{i}.c2")))
        if i > 0:
            name = f"pool{i}"
            handles.append(
                block.register_forward_pre_hook(lambda m, inputs, n=name: record(n, inputs[0]))
            )
    for i in range(unet.config.depth):
        handles.append(unet.up[i].register_forward_hook(after_relu(f"up{i}")))
        handles.append(unet.dec[i].conv1.register_forward_hook(after_relu(f"dec{i}.c1")))
        handles.append(unet.dec[i].conv2.register_forward_hook(after_relu(f"dec{i}.c2")))
    return handles


def _inputs(batch) -> torch.Tensor:
    """The network input of a loader batch: a tensor, or the first item of a tuple."""
    if isinstance(batch, list | tuple):
        batch = batch[0]
    if not isinstance(batch, torch.Tensor):
        raise TypeError(f"calibration batch must be a tensor or tuple, got {type(batch)}")
    return batch


def calibrate(
    unet: nn.Module,
    batches: Iterable,
    max_batches: int | None = None,
    max_samples: int | None = 1 << 19,
    seed: int = 0,
    progress: bool = False,
) -> ActivationStats:
    """Run ``unet`` over ``batches`` (tensors or ``(input, ...)`` tuples) and record stats.

    ``max_samples=None`` keeps every value (exact percentiles, unbounded memory).
    """
    from tqdm import tqdm

    gen = torch.Generator().manual_seed(seed)
    names = activation_points(unet.config.depth)
    samples = {n: ValueSample(max_samples, gen) for n in names}
    handles = activation_hooks(unet, lambda n, t: samples[n].add(t))
    was_training = unet.training
    unet.eval()
    n_batches = 0
    try:
        with torch.no_grad():
            if max_batches is not None:
                batches = itertools.islice(batches, max_batches)
            for batch in tqdm(batches, total=max_batches, desc="calibrate", disable=not progress):
                unet(_inputs(batch))
                n_batches += 1
    finally:
        for h in handles:
            h.remove()
        unet.train(was_training)
    if n_batches == 0:
        raise ValueError("no calibration batches")
    return ActivationStats(samples, n_batches, {"max_samples": max_samples, "seed": seed})
