"""U-Net -> Spiking-UNet: calibration, normalization, conversion, fine-tuning."""

from lava_spikingunet.conversion.calibrate import ActivationStats, calibrate
from lava_spikingunet.conversion.convert import PRESETS, ConversionConfig, convert_unet
from lava_spikingunet.conversion.normalize import (
    compute_lambdas,
    fold_all_batchnorm,
    fold_batchnorm,
    lambda_groups,
)

__all__ = [
    "PRESETS",
    "ActivationStats",
    "ConversionConfig",
    "calibrate",
    "compute_lambdas",
    "convert_unet",
    "fold_all_batchnorm",
    "fold_batchnorm",
    "lambda_groups",
]
