"""Finetune: train a converted Spiking-UNet through its spiking flow (docs/conversion.md).

The forward pass is the spiking simulation; the gradient flows through the accumulated
spike counts (the paper's accumulated spiking flow). The first batches are held out, and
the best parameters on them are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from lava_spikingunet.errors import InputError

if TYPE_CHECKING:
    from lava_spikingunet.graph.ir import SpikingGraph

__all__ = ["finetune"]


def finetune(
    graph: SpikingGraph,
    batches: Iterable | str,
    *,
    steps: int = 200,
    lr: float = 1e-4,
    timesteps: int | None = None,
    loss_fn: Callable | None = None,
    val_batches: int = 2,
    time_budget: float | None = None,
    seed: int = 0,
    data_root: str | None = None,
    batch: int = 8,
    progress: bool = False,
) -> SpikingGraph:
    """A fine-tuned copy of ``graph`` (float weights; quantize it afterwards).

    ``batches``: an iterable of ``(input, target)`` tensor batches, or a task name
    (``"denoise-grey"``, ...: ``batch``-sized training patches from the datasets under
    ``data_root``, with the task's loss). ``steps`` optimizer steps at ``lr`` and T =
    ``timesteps`` (default the model's); ``loss_fn(model, batch)`` defaults to the MSE of
    the readout; ``time_budget`` (seconds) stops early.
    """
    import math

    from lava_spikingunet.conversion.finetune import FinetuneConfig
    from lava_spikingunet.conversion.finetune import finetune as run_finetune

    if not (lr > 0 and math.isfinite(lr)):
        raise InputError(f"lr must be a finite number > 0, got {lr}")
    if steps < 1:
        raise InputError(f"steps must be >= 1, got {steps}")
    if isinstance(batches, str):
        from lava_spikingunet.conversion import tasks as T

        task = T.load_task(batches, data_root, graph.meta.extra.get("train_options"), seed)
        batches, loss_fn = T.training_batches(task, batch), loss_fn or task.loss
    cfg = FinetuneConfig(
        timesteps=timesteps,
        steps=steps,
        lr=lr,
        time_budget=time_budget,
        seed=seed,
        val_batches=max(0, val_batches),
    )
    return run_finetune(graph, batches, cfg, loss_fn=loss_fn, progress=progress).graph
