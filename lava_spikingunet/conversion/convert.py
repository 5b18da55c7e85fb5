"""U-Net -> Spiking-UNet graph: calibration stats + normalization + neuron choice."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from lava_spikingunet.ann.unet import UNet
from lava_spikingunet.conversion.calibrate import ActivationStats
from lava_spikingunet.conversion.normalize import Norm, compute_lambdas
from lava_spikingunet.graph.from_unet import unet_to_graph
from lava_spikingunet.graph.ir import SpikingGraph

#: Named neuron settings. ``paper``: the paper's MT neuron (N = 4 on the ladder
#: {2, 1, 0.5, 0.25}). ``deploy``: N = 6 on {1, ..., 1/32} plus the half-quantum bias
#: shift, 8x finer per step at the same clipping headroom (one step carries up to
#: 63/32 lambda), which closes the conversion gap at T <= 10 without fine-tuning
#: (docs/conversion.md section 3).
PRESETS: dict[str, dict] = {
    "deploy": {"n_thresholds": 6, "theta1": 1.0, "bias_shift": True},
    "paper": {"n_thresholds": 4, "theta1": 2.0, "bias_shift": False},
}


@dataclass
class ConversionConfig:
    """How to convert. ``neuron="if"`` is the single-threshold baseline (N = 1).

    ``theta1=None`` picks the paper's defaults: 2.0 for MT (ladder {2, 1, 0.5, 0.25} at
    N = 4), 1.0 for IF (threshold = lambda). ``bias_shift`` (off in the paper) adds half a
    quantum per window, ``theta_N / (2 T)``, to every neuron's bias: over ``T`` steps a
    neuron then emits ``round`` instead of ``floor`` of its accumulated input, removing
    the downward bias that compounds through the layers at short T.
    """

    norm: Norm = "connection"
    percentile: float = 99.9
    neuron: Literal["mt", "if"] = "mt"
    n_thresholds: int = 4
    theta1: float | None = None
    reset: Literal["subtract", "zero"] = "subtract"
    timesteps: int = 10
    bias_shift: bool = False

    def __post_init__(self) -> None:
        if self.neuron not in ("mt", "if"):
            raise ValueError(f"neuron must be 'mt' or 'if', got {self.neuron!r}")
        if self.norm not in ("connection", "layer"):
            raise ValueError(f"norm must be 'connection' or 'layer', got {self.norm!r}")
        if self.reset not in ("subtract", "zero"):
            raise ValueError(f"reset must be 'subtract' or 'zero', got {self.reset!r}")
        if self.n_thresholds < 1:
            raise ValueError(f"n_thresholds must be >= 1, got {self.n_thresholds}")
        if self.timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {self.timesteps}")
        if not 0 < self.percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {self.percentile}")
        if self.theta1 is not None and not self.theta1 > 0:
            raise ValueError(f"theta1 must be > 0, got {self.theta1}")

    @property
    def thresholds(self) -> int:
        return 1 if self.neuron == "if" else self.n_thresholds

    @property
    def first_threshold(self) -> float:
        if self.theta1 is not None:
            return float(self.theta1)
        return 1.0 if self.neuron == "if" else 2.0


def convert_unet(
    unet: UNet,
    stats: ActivationStats,
    height: int,
    width: int,
    config: ConversionConfig | None = None,
) -> SpikingGraph:
    """The Spiking-UNet graph of ``unet`` for ``height x width`` frames.

    The graph's ``meta.extra`` records the conversion settings, the lambdas and the
    calibration summary.
    """
    cfg = config or ConversionConfig()
    lambdas = compute_lambdas(stats, unet.config.depth, cfg.norm, cfg.percentile)
    graph = unet_to_graph(
        unet,
        height,
        width,
        lambdas,
        n_thresholds=cfg.thresholds,
        theta1=cfg.first_threshold,
        timesteps=cfg.timesteps,
        reset=cfg.reset,
    )
    if cfg.bias_shift:
        for n in graph.neurons():
            node = graph.node(n)
            node.bias = node.bias + node.theta_unit / (2 * cfg.timesteps)
    settings = asdict(cfg) | {"n_thresholds": cfg.thresholds, "theta1": cfg.first_threshold}
    graph.meta.extra.update(
        conversion=settings,
        calibration={"batches": stats.batches, **stats.meta, "points": stats.summary(99.9)},
    )
    return graph
