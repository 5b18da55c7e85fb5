"""Seeded, resumable CPU training of the float U-Net baselines."""

from lava_spikingunet.training.loop import train
from lava_spikingunet.training.options import TrainOptions
from lava_spikingunet.training.tasks import TASKS, get_task

__all__ = ["TASKS", "TrainOptions", "get_task", "train"]
