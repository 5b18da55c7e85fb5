"""Deploy: validate a model against a Loihi profile, map it onto cores, run it on the board.

Checks every fixed-point field against the profile (weight mantissas and exponents,
biases, thresholds, graded payload, state width, delays <= the profile's max delay,
graded spikes only where the chip has them) and maps the network onto cores and chips
(docs/profiling.md). Running on the chip needs Intel's lava-loihi extension (for INRC
members): the run goes through :func:`~lava_spikingunet.backends.lava_network.run_lava`
with a Loihi hardware run config.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from lava_spikingunet.errors import HardwareUnavailableError, InputError, LavaRunError

if TYPE_CHECKING:
    import numpy as np

    from lava_spikingunet.graph.ir import SpikingGraph

__all__ = [
    "LAVA_LOIHI_MODULES",
    "NOT_INSTALLED",
    "check",
    "deploy",
    "hw_run_config",
    "lava_loihi_available",
    "run_on_board",
]

#: Modules only Intel's lava-loihi extension provides: the neurocore compiler Lava's
#: Loihi2HwCfg needs (lava.magma.compiler.compiler imports it), and the module
#: ``lava.utils.loihi.is_installed`` checks.
LAVA_LOIHI_MODULES = (
    "lava.magma.compiler.subcompilers.nc.ncproc_compiler",
    "lava.utils.loihi2_profiler",
)

NOT_INSTALLED = (
    "lava-loihi is not installed: running on Loihi needs Intel's lava-loihi extension "
    "(Loihi2HwCfg's neurocore compiler), which Intel distributes to INRC members only. "
    "The model passed every check above. To run the same model on the CPU simulator use "
    "`spikingunet simulate {model} --image IMG --backend lava`."
)


def require_board(model: Any, image: Any) -> None:
    """Stop before a board run that cannot happen: no lava-loihi (the model passed its
    checks), or no input frame."""
    if not lava_loihi_available():
        raise HardwareUnavailableError(NOT_INSTALLED.format(model=model))
    if image is None:
        raise InputError("pass --image IMG: the input frame to run on the chip")


def lava_loihi_available() -> bool:
    """Whether Intel's lava-loihi extension is importable (no import is done)."""
    import lava_spikingunet  # noqa: F401  (compat hook before lava is looked up)

    for name in LAVA_LOIHI_MODULES:
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


def hw_run_config(profile_name: str) -> Any:
    """``Loihi1HwCfg`` for the loihi1 profile, else ``Loihi2HwCfg`` (fixed-point models)."""
    from lava.magma.core.run_configs import Loihi1HwCfg, Loihi2HwCfg

    cls = Loihi1HwCfg if profile_name == "loihi1" else Loihi2HwCfg
    return cls(select_tag="fixed_pt")


def check(
    graph: SpikingGraph, hw: Any = "loihi2", form: str | None = None, weights: str = "shared"
) -> Any:
    """Validate ``graph`` against the profile ``hw`` (name, path or profile) in ``form``
    (default the model's) and map it onto cores; returns the core mapping. Raises a
    project error naming the first field that does not fit."""
    from lava_spikingunet.hw.mapping import check_deployable
    from lava_spikingunet.pipeline import as_profile

    return check_deployable(graph, as_profile(hw), form or graph.meta.neuron_form, weights)


def run_on_board(
    graph: SpikingGraph, frame: Any, form: str, run_cfg: Any, board: str = "the board"
) -> np.ndarray:
    """Run ``frame`` ``(C, H, W)`` (the deployed input size) with ``run_cfg``; returns the
    readout accumulator ``(C, H, W)``. Any failure on ``board`` becomes a LavaRunError."""
    from lava_spikingunet.backends.lava_network import run_lava
    from lava_spikingunet.reference.input_current import input_current

    _, h, w = graph.node(graph.input_name).shape
    if tuple(frame.shape[1:]) != (h, w):
        raise InputError(
            f"the deployed network takes {h}x{w} frames, the frame is "
            f"{frame.shape[1]}x{frame.shape[2]}"
        )
    current = input_current(graph, frame[None])
    try:
        return run_lava(graph, current, form, run_cfg=run_cfg).acc[0]
    except LavaRunError:
        raise
    except Exception as exc:  # noqa: BLE001 - report the board's failure, not a traceback
        raise LavaRunError(f"the run on {board} failed: {type(exc).__name__}: {exc}") from exc


def deploy(
    graph: SpikingGraph, frame: Any, hw: Any = "loihi2", form: str | None = None
) -> np.ndarray:
    """Validate ``graph`` for ``hw``, then run ``frame`` ``(C, H, W)`` on the Loihi board;
    returns the readout ``y`` ``(C, H, W)``. Raises HardwareUnavailableError without
    lava-loihi (after the checks)."""
    from lava_spikingunet.pipeline import as_profile

    profile = as_profile(hw)
    form = form or graph.meta.neuron_form
    check(graph, profile, form)
    if not lava_loihi_available():
        raise HardwareUnavailableError(NOT_INSTALLED.format(model="MODEL.h5"))
    acc = run_on_board(graph, frame, form, hw_run_config(profile.name), profile.name)
    return acc / (graph.meta.timesteps * graph.node(graph.readout_name).scale)
