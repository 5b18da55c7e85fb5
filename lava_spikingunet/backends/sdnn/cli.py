"""The ``--form sdnn`` branches of ``spikingunet verify``, ``profile`` and ``deploy``.

Each takes the command's parsed arguments, runs :mod:`.stages` on the model (an ``sdnn``
netx file, or any quantized model turned into the ``sdnn`` form, :func:`.stages.
load_sdnn_model`) and the ``--image`` frame (padded to the size multiple), prints a report
and returns the exit status.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

__all__ = ["run_deploy", "run_profile", "run_verify"]


def _frame(args: argparse.Namespace, graph) -> np.ndarray:
    """The ``--image`` frame ``(C, H, W)``, zero-padded to the size multiple."""
    import torch

    from lava_spikingunet.data.frames import load_input
    from lava_spikingunet.reference.input_current import size_multiple
    from lava_spikingunet.reference.module import pad_frames

    x = load_input(args.image, graph.node(graph.input_name).shape[0])
    xp, (h, w) = pad_frames(torch.as_tensor(x[None]), size_multiple(graph))
    if tuple(xp.shape[-2:]) != (h, w):
        print(f"padded the {h}x{w} image to {xp.shape[-2]}x{xp.shape[-1]} (multiple of 2^depth)")
    return xp[0].numpy()


def _write(args: argparse.Namespace, name: str, data: Any) -> None:
    from pathlib import Path

    from lava_spikingunet.fileio import write_text_atomic

    out = Path(args.out)
    if out.suffix.lower() != ".json":
        out.mkdir(parents=True, exist_ok=True)
        out = out / name
    write_text_atomic(out, json.dumps(data, indent=2) + "\n", args.overwrite)
    print(f"wrote {out}")


def run_verify(args: argparse.Namespace) -> int:
    """Lava (stock processes) against the sigma-delta reference on the frame; 0 when
    identical, 1 otherwise."""
    from lava_spikingunet.backends.sdnn.stages import load_sdnn_model, verify_sdnn

    graph = load_sdnn_model(args.model)
    rep = verify_sdnn(graph, _frame(args, graph), timeout=args.timeout)
    ok = rep["mismatches"] == 0
    print(
        f"\nsdnn form: {'IDENTICAL' if ok else 'MISMATCH'} ({rep['frame'][0]}x"
        f"{rep['frame'][1]}, {rep['steps']} steps of which {rep['rest_steps']} settle to "
        f"rest, {rep['messages']} messages)"
    )
    print(f"{'layer':<12} {'mismatches':>10}")
    for n, v in rep["layers"].items():
        print(f"{n:<12} {v:>10}")
    print(f"{'readout':<12} {rep['readout']:>10}")
    if args.out:
        _write(args, "verify.json", rep)
    return 0 if ok else 1


def run_profile(args: argparse.Namespace) -> int:
    """Synops of the graded deltas per ANN MAC and the neurocores."""
    from lava_spikingunet.backends.sdnn.stages import load_sdnn_model, profile_sdnn

    graph = load_sdnn_model(args.model)
    rep = profile_sdnn(graph, _frame(args, graph), args.hw)
    print(f"{'layer':<12} {'messages':>9} {'max |msg|':>10} {'max |sigma|':>12}")
    for n, v in rep["layers"].items():
        print(f"{n:<12} {v['messages']:>9} {v['max_abs_msg']:>10} {v['max_abs_sigma']:>12}")
    print(
        f"\nsdnn form, {rep['frame'][0]}x{rep['frame'][1]}, {rep['hold']} steps: "
        f"{rep['synops_per_frame'][0]:,} synops of graded deltas = "
        f"{rep['synops_per_mac'][0]:.4f} per ANN MAC ({rep['ann_macs_per_frame']:,} MACs); "
        f"{rep['cores']} neurocores on {rep['chips']} chip(s) ({rep['profile']}, graded "
        "mapping model)"
    )
    print(
        f"the frame starts from the resting state (settling there costs "
        f"{rep['rest']['synops_per_mac']:.4f} per ANN MAC once, over "
        f"{rep['rest']['steps']} steps); from a reset network the frame costs "
        f"{rep['from_reset']['synops_per_mac'][0]:.4f}"
    )
    if args.out:
        _write(args, "profile.json", rep)
    return 0


def run_deploy(args: argparse.Namespace) -> int:
    """Check the ``sdnn`` model against the profile, then run it on ``Loihi2HwCfg``
    (lava-loihi), or stop with the deploy command's message."""
    from lava_spikingunet.backends.sdnn.stages import deploy_sdnn, load_sdnn_model, sdnn_problems
    from lava_spikingunet.errors import UserError
    from lava_spikingunet.pipeline.deploy import require_board

    graph = load_sdnn_model(args.model)
    problems = sdnn_problems(graph, args.hw)
    if problems:
        listing = "\n  ".join(problems)
        raise UserError(f"the sdnn model does not fit {args.hw}:\n  {listing}")
    info = graph.meta.extra["sdnn"]
    print(
        f"{args.model}: fits {args.hw} (sdnn form: stock SigmaDelta/Conv/Sparse, "
        f"state_exp {sorted({v['state_exp'] for v in info['nodes'].values()})}, "
        f"{info['steps']} steps per static frame)"
    )
    if args.check_only:
        return 0
    require_board(args.model, args.image)
    y = deploy_sdnn(graph, _frame(args, graph), args.hw, model=args.model)
    print(f"ran on {args.hw}: readout y in [{y.min():.4g}, {y.max():.4g}]")
    return 0
