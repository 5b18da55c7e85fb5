"""Convert: a trained U-Net into a multi-threshold Spiking-UNet graph (docs/conversion.md).

A ReLU U-Net runs over calibration batches (forward hooks record every activation
point); each neuron layer gets a normalization scale (a percentile of its activations),
connection-wise (each source its own) or layer-wise, and MT neurons. An I-LIF U-Net
(``activation="ilif"``) converts exactly at T = 1 with no calibration (docs/ilif.md).
The graph has Lava's native delays.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from lava_spikingunet.errors import InputError

if TYPE_CHECKING:
    from lava_spikingunet.ann.unet import UNet
    from lava_spikingunet.graph.ir import SpikingGraph

__all__ = ["conversion_config", "convert"]


def conversion_config(
    *,
    preset: Literal["deploy", "paper"] = "deploy",
    neuron: Literal["mt", "if"] = "mt",
    norm: Literal["connection", "layer"] = "connection",
    percentile: float = 99.9,
    reset: Literal["subtract", "zero"] = "subtract",
    thresholds: int | None = None,
    theta1: float | None = None,
    bias_shift: bool | None = None,
    timesteps: int | None = None,
) -> Any:
    """The :class:`~lava_spikingunet.conversion.ConversionConfig` of a ``preset`` (MT
    neurons: ``deploy`` N=6, theta1=1, bias shift; ``paper`` N=4, theta1=2) with the
    given overrides (``timesteps`` default 10); InputError on values out of range."""
    from lava_spikingunet.conversion import PRESETS, ConversionConfig
    from lava_spikingunet.limits import check_thresholds, check_timesteps

    if preset not in PRESETS:
        raise InputError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    base = PRESETS[preset] if neuron == "mt" else {"bias_shift": False}
    chosen = {"n_thresholds": thresholds, "theta1": theta1, "bias_shift": bias_shift}
    settings = {**base, **{k: v for k, v in chosen.items() if v is not None}}
    try:
        cfg = ConversionConfig(
            norm=norm,
            percentile=percentile,
            neuron=neuron,
            reset=reset,
            **settings,
            timesteps=timesteps or 10,
        )
        check_thresholds(cfg.thresholds, "thresholds")
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    check_timesteps(cfg.timesteps, "T")
    return cfg


def _task_record(unet: UNet, name: str, data_root: Any) -> tuple[Any, dict]:
    """The task ``name`` (with the checkpoint's training options) and what the graph
    records about it and the checkpoint."""
    from lava_spikingunet.conversion import tasks as T

    meta = getattr(unet, "checkpoint_meta", None) or {}
    options = (meta.get("train") or {}).get("options")
    task = T.load_task(name, data_root, options)
    if (task.in_channels, task.out_channels) != (unet.config.in_channels, unet.config.out_channels):
        raise InputError(
            f"the U-Net maps {unet.config.in_channels} -> {unet.config.out_channels} channels "
            f"but task {name} needs {task.in_channels} -> {task.out_channels}"
        )
    extra = {
        **T.task_extra(task),
        "unet_metrics": meta.get("metrics") or {},
        "train_options": options or {},
    }
    if meta.get("path"):
        extra["checkpoint"] = str(meta["path"])
    return task, extra


def convert(
    unet: UNet,
    frame: tuple[int, int],
    calib: Iterable | Any = None,
    *,
    task: str | None = None,
    config: Any = None,
    data_root: str | None = None,
    batch: int = 16,
    max_batches: int | None = 16,
    max_samples: int | None = 1 << 19,
    seed: int = 0,
    progress: bool = False,
    **options: Any,
) -> SpikingGraph:
    """The Spiking-UNet graph of ``unet`` for ``frame`` = ``(height, width)`` inputs.

    ``calib``: calibration data for a ReLU U-Net: one array of frames ``(B, C, H, W)``
    in [0, 1] or an iterable of such batches (or of ``(input, target)`` tuples); by
    default ``batch``-sized training patches of ``task`` from the datasets under
    ``data_root``. An I-LIF U-Net needs none. ``task`` (``"denoise-grey"``, ...): the
    task the graph records (later stages take its calibration patches and metrics).
    ``config`` (a ConversionConfig) or ``options`` (the keywords of
    :func:`conversion_config`: ``preset``, ``norm``, ``percentile``, ``timesteps``, ...)
    say how to convert; ``max_batches`` / ``max_samples`` / ``seed`` how much of the
    calibration data is used. Raises InputError on a frame that does not divide by
    2^depth, missing calibration data or an option out of range.
    """
    import torch

    from lava_spikingunet.conversion import calibrate, convert_unet
    from lava_spikingunet.conversion import tasks as T
    from lava_spikingunet.conversion.ilif import convert_ilif

    h, w = (int(v) for v in frame)
    m = unet.size_multiple
    if h < 1 or w < 1 or h % m or w % m:
        raise InputError(f"frame {h}x{w} must be positive and divide by 2^depth = {m}")
    ilif = unet.config.activation == "ilif"
    if ilif and options.get("timesteps") not in (None, 1):
        raise InputError("an I-LIF U-Net converts at T = 1 (its counts are one step)")
    cfg = None if ilif else config if config is not None else conversion_config(**options)
    loaded, extra = _task_record(unet, task, data_root) if task else (None, {})
    if ilif:
        graph = convert_ilif(unet, h, w)
    else:
        if calib is None and loaded is not None:
            calib = T.training_batches(loaded, batch)
        if calib is None:
            raise InputError("a ReLU U-Net needs calibration frames (calib=...) or a task")
        if hasattr(calib, "shape"):  # one array or tensor of frames: one batch
            calib = [torch.as_tensor(calib, dtype=torch.float32)]
        stats = calibrate(
            unet,
            calib,
            max_batches=max_batches,
            max_samples=max_samples or None,
            seed=seed,
            progress=progress,
        )
        graph = convert_unet(unet, stats, h, w, cfg)
    graph.meta.extra.update(extra)
    return graph
