"""Hardware targets: profiles of bit widths, sizes and energy figures (``hw_profiles/``)."""

from lava_spikingunet.hw.profiles import (
    MAX_BITS,
    PROFILES_DIR,
    ChipSpec,
    CoreSpec,
    EnergySpec,
    HardwareProfile,
    NeuronFormat,
    PaperEnergy,
    SpikeFormat,
    TimingSpec,
    WeightFormat,
    available_profiles,
    load_profile,
    signed_range,
)

__all__ = [
    "MAX_BITS",
    "PROFILES_DIR",
    "ChipSpec",
    "CoreSpec",
    "EnergySpec",
    "HardwareProfile",
    "NeuronFormat",
    "PaperEnergy",
    "SpikeFormat",
    "TimingSpec",
    "WeightFormat",
    "available_profiles",
    "load_profile",
    "signed_range",
]
