"""Peer comparison: SpikingJelly's ann2snn converter vs our MT Spiking-UNet, same U-Net.

SpikingJelly (``spikingjelly==2.0.0``, ``requirements/bench.txt``) converts with its
``RateCodingRecipe(mode="99.9%")``: one ``VoltageHook`` per ``nn.ReLU`` records the
99.9th percentile of that activation, and the ReLU becomes
``VoltageScaler(1/s) -> IFNode(v_threshold=1, v_reset=None) -> VoltageScaler(s)``
(integrate-and-fire, reset by subtraction). Ours: connection-wise normalization at the
same 99.9th percentile, MT neurons (N = 4, theta1 = 2), float simulator, zero delays.
Both get the *same* calibration batches (one batch of 32 training patches by default,
so SpikingJelly's momentum average over batches plays no role and both take the
percentile of exactly the same values) and the same test images with the same noise
seeds (denoising: the first 16 BSD68 images at sigma 25, central 128x128 crops; DRIVE:
8 images, ISBI: the 5 test slices, central 256x256 crops; see ``EVAL_DEFAULTS``); both run
static (analog) input coding and average the readout over T steps.

Our U-Net calls ``F.relu`` / ``F.avg_pool2d`` and pads in ``forward``; SpikingJelly's
FX converter cannot take it as is (the exact errors are recorded). :class:`ModuleUNet`
is a faithful rewrite with ``nn.ReLU`` / ``nn.AvgPool2d`` modules that shares the
original's weights and gives identical float outputs (checked at run time).

    .venv/bin/python -m benchmarks.peer_spikingjelly [--quick] [--tasks denoise-grey ...]

Writes ``benchmarks/results/peer_spikingjelly.{json,md}``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import platform
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lava_spikingunet.ann.unet import UNet, pad_amounts
from lava_spikingunet.fileio import write_text_atomic

TIMESTEPS = (10, 20, 50, 100)
TASKS = ("denoise-grey", "drive", "isbi2012")
#: Per task: (first N test images, central crop) unless --images / --crop are given.
EVAL_DEFAULTS = {"denoise-grey": (16, 128), "drive": (8, 256), "isbi2012": (5, 256)}
RESULTS = Path(__file__).resolve().parent / "results"
SJ_LABEL = "SpikingJelly IF (99.9%)"
OURS_LABEL = "ours MT N=4 (99.9%)"
OURS_IF_LABEL = "ours IF N=1 (99.9%)"
OURS_DEPLOY_LABEL = "ours MT deploy N=6 (99.9%)"

NOTES = [
    '- SpikingJelly: `Converter(RateCodingRecipe(calib, mode="99.9%"))` on `ModuleUNet`; '
    "each `nn.ReLU` becomes `VoltageScaler(1/s) -> IFNode(v_threshold=1, v_reset=None) -> "
    "VoltageScaler(s)` (IF, reset by subtraction, `s` = 99.9th percentile); the avg-pooled "
    "spikes feed the next conv directly (no neuron after pooling).",
    "- Ours: connection-wise normalization at the same percentile; MT N=4 (theta1 = 2, the "
    "paper's neuron), MT with the deploy preset (N=6, theta1=1, half-quantum bias shift) and, "
    "for reference, our IF (N=1, theta = lambda, reset by subtraction), which also re-spikes "
    "each pooled map (3 more neuron layers than SpikingJelly at depth 3); float simulator, "
    "zero delays.",
    "- Both: the same calibration batch, the same test images and noise; static (analog) "
    "input every step, readout = mean head output over T (denoising: clean = clip(noisy - "
    "y, 0, 1), PSNR per image averaged; segmentation: sigmoid(y) >= 0.5, F1 pooled over the "
    "images, DRIVE inside the FOV mask).",
    "- SpikingJelly's T values are prefixes of one max(T)-step run per image (identical to "
    "separate runs; tested), so its first row's `seconds` in the JSON hold the whole run.",
]

Evaluate = Callable[[nn.Module], dict[str, Any]]


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- rewrite


class ModuleDoubleConv(nn.Module):
    """:class:`DoubleConv` with ``nn.ReLU`` modules; shares the block's convs."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.conv1, self.relu1 = block.conv1, nn.ReLU()
        self.conv2, self.relu2 = block.conv2, nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu2(self.conv2(self.relu1(self.conv1(x))))


class ModuleUNet(nn.Module):
    """``UNet.forward_unpadded`` with module activations and pooling (same weights).

    Frames must divide by ``2**depth`` (pad outside, as :class:`SpikingJellyRunner` does).
    """

    def __init__(self, unet: UNet) -> None:
        super().__init__()
        self.depth = unet.config.depth
        self.enc = nn.ModuleList(ModuleDoubleConv(b) for b in unet.enc)
        self.pool = nn.ModuleList(nn.AvgPool2d(2) for _ in range(self.depth))
        self.up = unet.up
        self.up_relu = nn.ModuleList(nn.ReLU() for _ in range(self.depth))
        self.dec = nn.ModuleList(ModuleDoubleConv(b) for b in unet.dec)
        self.head = unet.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = self.enc[0](x)
        skips.append(h)
        for i in range(1, self.depth + 1):
            h = self.enc[i](self.pool[i - 1](h))
            skips.append(h)
        for i in reversed(range(self.depth)):
            h = self.up_relu[i](self.up[i](h))
            h = self.dec[i](torch.cat([skips[i], h], dim=1))
        return self.head(h)


class _Unpadded(nn.Module):
    """The original U-Net without its padding (``forward_unpadded``): functional ops."""

    def __init__(self, unet: UNet) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unet.forward_unpadded(x)


class _ReluModulesOnly(nn.Module):
    """``nn.ReLU`` modules but still ``F.avg_pool2d`` (isolates the pooling failure)."""

    def __init__(self, unet: UNet) -> None:
        super().__init__()
        self.m = ModuleUNet(unet)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.m
        skips = [m.enc[0](x)]
        for i in range(1, m.depth + 1):
            skips.append(m.enc[i](F.avg_pool2d(skips[-1], 2)))
        h = skips[-1]
        for i in reversed(range(m.depth)):
            h = m.up_relu[i](m.up[i](h))
            h = m.dec[i](torch.cat([skips[i], h], dim=1))
        return m.head(h)


@torch.no_grad()
def rewrite_max_abs_diff(unet: UNet, x: torch.Tensor) -> float:
    """Largest ``|ModuleUNet(x) - UNet.forward_unpadded(x)|`` (0.0: identical)."""
    return float((ModuleUNet(unet).eval()(x) - unet.forward_unpadded(x)).abs().max())


# ----------------------------------------------------------------------- spikingjelly


def spikingjelly_version() -> str:
    from importlib.metadata import version

    return version("spikingjelly")


def convert_spikingjelly(
    model: nn.Module, batches: Sequence, percentile: float = 99.9
) -> nn.Module:
    """SpikingJelly's ``Converter(RateCodingRecipe(mode="<p>%"))`` on ``model`` (CPU)."""
    from spikingjelly.activation_based import ann2snn

    recipe = ann2snn.RateCodingRecipe(list(batches), mode=f"{percentile:g}%")
    return ann2snn.Converter(recipe, "cpu").convert(model)


WHY = (
    "the FX converter traces forward() with torch.fx Proxies; UNet.forward computes its "
    "reflect padding from x.shape with int() (pad_amounts), which a Proxy cannot give",
    "RateCodingRecipe puts its VoltageHook / IF neuron only on nn.ReLU call_module nodes; "
    "F.relu stays a call_function node, which its step-mode adapter then rejects",
    "F.avg_pool2d is a call_function node; the step-mode adapter wraps only pooling "
    "modules (nn.AvgPool2d -> layer.AvgPool2d)",
)


def error_text(exc: BaseException) -> str:
    """``Type: message`` without memory addresses (stable across runs)."""
    return re.sub(r" at 0x[0-9a-f]+", "", f"{type(exc).__name__}: {exc}")


def conversion_attempts(unet: UNet, batches: Sequence) -> list[dict[str, Any]]:
    """Try the converter on the U-Net as written, step by step towards the rewrite."""
    candidates = [
        ("UNet (as written: padding in forward, F.relu, F.avg_pool2d)", unet, WHY[0]),
        ("UNet.forward_unpadded (F.relu, F.avg_pool2d)", _Unpadded(unet), WHY[1]),
        ("nn.ReLU modules, F.avg_pool2d", _ReluModulesOnly(unet), WHY[2]),
        ("ModuleUNet (nn.ReLU, nn.AvgPool2d)", ModuleUNet(unet), ""),
    ]
    out = []
    for name, model, why in candidates:
        try:
            snn = convert_spikingjelly(model.eval(), batches[:1])
            out.append({"model": name, "ok": True, "neurons": len(if_scales(snn))})
        except Exception as exc:  # noqa: BLE001 -- the point is to record any failure
            out.append({"model": name, "ok": False, "error": error_text(exc), "why": why})
    return out


def if_scales(snn: nn.Module) -> dict[str, float]:
    """Per IF neuron, SpikingJelly's scale ``s`` (the output ``VoltageScaler``)."""
    from spikingjelly.activation_based.ann2snn.modules import VoltageScaler

    return {
        name.removesuffix(".scaler1"): float(m.scale)
        for name, m in snn.named_modules()
        if isinstance(m, VoltageScaler) and name.endswith("scaler1")
    }


class SpikingJellyRunner:
    """Runs a converted SNN once per image for ``max(timesteps)`` steps (static input,
    readout averaged over steps) and keeps ``acc_t / t`` for every ``t`` in
    ``timesteps`` (a run of ``t`` steps is the first ``t`` steps of a longer run)."""

    def __init__(self, snn: nn.Module, timesteps: Sequence[int], multiple: int) -> None:
        self.snn, self.timesteps, self.multiple = snn.eval(), sorted(timesteps), multiple
        self._cache: dict[str, dict[int, torch.Tensor]] = {}

    @staticmethod
    def _key(x: torch.Tensor) -> str:
        data = x.detach().contiguous().cpu().numpy().tobytes()
        return f"{tuple(x.shape)}:{hashlib.sha1(data).hexdigest()}"

    @torch.no_grad()
    def run(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """``{t: readout of a t-step run}`` for a batch ``x`` (padded like UNet.forward)."""
        from spikingjelly.activation_based import functional

        h, w = x.shape[-2:]
        ph, pw = pad_amounts((h, w), self.multiple)
        if ph or pw:
            mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        functional.reset_net(self.snn)
        acc, out = None, {}
        for t in range(1, self.timesteps[-1] + 1):
            y = self.snn(x)
            acc = y if acc is None else acc + y
            if t in self.timesteps:
                out[t] = (acc / t)[..., :h, :w].clone()
        functional.reset_net(self.snn)
        return out

    def readout(self, x: torch.Tensor, t: int) -> torch.Tensor:
        key = self._key(x)
        if key not in self._cache:
            self._cache[key] = self.run(x)
        return self._cache[key][t]


class AtTimesteps(nn.Module):
    """The runner's readout at ``t`` steps as a module the task evaluation can call."""

    def __init__(self, runner: SpikingJellyRunner, t: int, config: Any) -> None:
        super().__init__()
        self.runner, self.t, self.config = runner, t, config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.runner.readout(x, self.t)


# ------------------------------------------------------------------------- comparison


def ours_modules(
    unet: UNet, stats: Any, neurons: Sequence[str], percentile: float
) -> dict[str, Callable[[int], nn.Module]]:
    """Per neuron kind (``mt``: the paper's N=4, ``deploy``: our preset, ``if``),
    ``t -> SpikingUNetModule`` of our conversion (connection-wise)."""
    from lava_spikingunet.conversion import PRESETS, ConversionConfig, convert_unet
    from lava_spikingunet.snn.module import SpikingUNetModule

    kinds = {"mt": {}, "if": {"neuron": "if"}, "deploy": PRESETS["deploy"]}
    m = unet.size_multiple

    def maker(kw: dict) -> Callable[[int], nn.Module]:
        def make(t: int) -> nn.Module:
            cfg = ConversionConfig(percentile=percentile, timesteps=t, **kw)
            return SpikingUNetModule(convert_unet(unet, stats, m, m, cfg), t)

        return make

    return {neuron: maker(kinds[neuron]) for neuron in neurons}


def our_point(sj_name: str, depth: int) -> str:
    """Our activation point for a SpikingJelly neuron name (``enc.1.spiking_0`` ->
    ``enc1.c1``; ``up_relu.spiking_k`` is the k-th up ReLU in forward order)."""
    parts = sj_name.split(".")
    k = int(parts[-1].removeprefix("spiking_"))
    if parts[0] == "up_relu":
        return f"up{depth - 1 - k}"
    return f"{parts[0]}{parts[1]}.c{k + 1}"


def scale_agreement(scales: dict[str, float], stats: Any, depth: int, q: float) -> float:
    """Largest relative difference between SpikingJelly's scales and our lambdas."""
    rel = [abs(s / stats.percentile(our_point(n, depth), q) - 1) for n, s in scales.items()]
    return float(max(rel))


def _timed(evaluate: Evaluate, model: nn.Module) -> dict[str, Any]:
    t0 = time.monotonic()
    out = dict(evaluate(model))
    out["seconds"] = round(time.monotonic() - t0, 1)
    return out


def compare(
    unet: UNet,
    batches: Sequence,
    evaluate: Evaluate,
    timesteps: Sequence[int] = TIMESTEPS,
    percentile: float = 99.9,
    with_ours_if: bool = True,
) -> dict[str, Any]:
    """U-Net vs SpikingJelly IF vs ours (MT, optionally IF) at every ``t``.

    ``batches``: calibration batches (tensors or ``(input, ...)``), the same for both
    converters; ``evaluate(model) -> metrics`` runs the task's test evaluation.
    """
    unet = unet.eval()
    probe = batches[0][0] if isinstance(batches[0], list | tuple) else batches[0]
    result: dict[str, Any] = {
        "rewrite_max_abs_diff": rewrite_max_abs_diff(unet, probe),
        "attempts": conversion_attempts(unet, batches),
        "rows": [],
    }
    rows = result["rows"]
    rows.append({"label": "U-Net", "T": None, "metrics": _timed(evaluate, unet)})
    log(f"  U-Net: {rows[-1]['metrics']}")
    try:
        t0 = time.monotonic()
        snn = convert_spikingjelly(ModuleUNet(unet), batches, percentile)
        result["spikingjelly_convert_s"] = round(time.monotonic() - t0, 1)
        result["spikingjelly_scales"] = if_scales(snn)
        runner = SpikingJellyRunner(snn, timesteps, unet.size_multiple)
    except Exception as exc:  # noqa: BLE001 -- recorded in the results
        result["spikingjelly_error"] = error_text(exc)
        runner = None
    from lava_spikingunet.conversion import calibrate

    stats = calibrate(unet, list(batches), max_samples=None)
    if runner is not None:
        depth = unet.config.depth
        result["scale_vs_lambda_max_rel_diff"] = scale_agreement(
            result["spikingjelly_scales"], stats, depth, percentile
        )
    kinds = ("mt", "deploy", "if") if with_ours_if else ("mt", "deploy")
    makers = ours_modules(unet, stats, kinds, percentile)
    models = {OURS_LABEL: makers["mt"], OURS_DEPLOY_LABEL: makers["deploy"]}
    if with_ours_if:
        models[OURS_IF_LABEL] = makers["if"]
    for t in timesteps:
        if runner is not None:
            metrics = _timed(evaluate, AtTimesteps(runner, t, unet.config))
            rows.append({"label": SJ_LABEL, "T": t, "metrics": metrics})
            log(f"  {SJ_LABEL} T={t}: {metrics}")
        for label, make in models.items():
            rows.append({"label": label, "T": t, "metrics": _timed(evaluate, make(t))})
            log(f"  {label} T={t}: {rows[-1]['metrics']}")
    return result


# ------------------------------------------------------------------------------- tasks


def task_bench(name: str, ckpt: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Load the checkpoint and its task, build the calibration batches, compare."""
    from lava_spikingunet.checkpoints import load_unet
    from lava_spikingunet.conversion import tasks as T

    unet, meta = load_unet(ckpt)
    task = T.load_task(name, args.data_root, (meta.get("train") or {}).get("options"))
    batches = list(itertools.islice(T.training_batches(task, args.calib_batch), args.calib_n))
    metric = T.primary_metric(task)
    images, crop = eval_size(name, args)
    evaluate = lambda model: T.evaluate(task, model, images, crop=crop)
    t0 = time.monotonic()
    out = compare(unet, batches, evaluate, args.timesteps, args.percentile, not args.no_ours_if)
    return {
        "checkpoint": str(ckpt),
        "unet_config": unet.config.to_dict(),
        "metric": metric,
        "images": images,
        "crop": crop,
        "calibration": {"batches": args.calib_n, "batch": args.calib_batch},
        "seconds": round(time.monotonic() - t0, 1),
        **out,
    }


def value(row: dict, metric: str) -> float:
    return float(row["metrics"][metric])


def fmt(v: float, metric: str) -> str:
    """PSNR in dB with 2 decimals, scores in [0, 1] with 4."""
    return f"{v:.2f}" if metric.startswith("psnr") else f"{v:.4f}"


def markdown(results: dict[str, Any]) -> str:
    """The result tables (one per task) and the conversion attempts."""
    lines = ["# Peer comparison: SpikingJelly ann2snn vs our MT Spiking-UNet", ""]
    s = results["settings"]
    lines += [
        f"spikingjelly {s['spikingjelly']}, torch {s['torch']}, percentile {s['percentile']}, "
        f"T = {', '.join(map(str, s['timesteps']))}.",
        "",
    ]
    lines += NOTES + [""]
    for name, r in results["tasks"].items():
        if "error" in r:
            lines += [f"## {name}", "", f"Not run: {r['error']}", ""]
            continue
        metric = r["metric"]
        crop = f"central {r['crop']}x{r['crop']} crops" if r["crop"] else "full images"
        lines += [
            f"## {name} ({metric})",
            "",
            f"First {r['images']} test images, {crop}; calibration: {r['calibration']['batches']} "
            f"x {r['calibration']['batch']} training patches (same for both converters). "
            f"Wall time {r['seconds']} s. Command: `{r.get('command', s['command'])}`.",
            "",
        ]
        unet_row = next(x for x in r["rows"] if x["T"] is None)
        labels = list(dict.fromkeys(x["label"] for x in r["rows"] if x["T"] is not None))
        ts = sorted({x["T"] for x in r["rows"] if x["T"] is not None})
        lines.append("| model | " + " | ".join(f"T={t}" for t in ts) + " |")
        lines.append("|---|" + "---|" * len(ts))
        u = value(unet_row, metric)
        lines.append("| U-Net (float) | " + " | ".join(fmt(u, metric) for _ in ts) + " |")
        for label in labels:
            cells = {x["T"]: value(x, metric) for x in r["rows"] if x["label"] == label}
            row = " | ".join(fmt(cells[t], metric) for t in ts)
            lines.append(f"| {label} | {row} |")
        lines += ["", "Conversion attempts with SpikingJelly:", ""]
        for a in r["attempts"]:
            status = (
                f"converted ({a['neurons']} IF layers)"
                if a["ok"]
                else f"fails, `{a['error']}`: {a.get('why', '')}"
            )
            lines.append(f"- {a['model']}: {status}")
        lines += [
            "",
            f"ModuleUNet vs UNet float output: max |diff| = {r['rewrite_max_abs_diff']:.3g}. "
            "SpikingJelly's scales vs our lambdas at the same activation points: max relative "
            f"difference {r.get('scale_vs_lambda_max_rel_diff', float('nan')):.2g}.",
            "",
        ]
        if "spikingjelly_error" in r:
            lines += [f"SpikingJelly conversion failed: `{r['spikingjelly_error']}`", ""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="2 images, 64x64 crops, T 10 and 20")
    p.add_argument("--tasks", nargs="+", default=None, help=f"default: those of {TASKS} found")
    p.add_argument("--checkpoint", action="append", default=[], metavar="TASK=PATH")
    p.add_argument("--data-root", default=None)
    p.add_argument("--images", type=int, default=None, help="first N test images")
    p.add_argument("--crop", type=int, default=None, help="central crop; 0 = full images")
    p.add_argument("--timesteps", type=int, nargs="+", default=list(TIMESTEPS))
    p.add_argument("--percentile", type=float, default=99.9)
    p.add_argument("--calib-batch", type=int, default=32)
    p.add_argument("--calib-n", type=int, default=1, help="calibration batches")
    p.add_argument("--no-ours-if", action="store_true", help="skip our IF reference row")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=RESULTS / "peer_spikingjelly")
    p.add_argument("--render", action="store_true", help="only rewrite OUT.md from OUT.json")
    p.add_argument("--merge", action="store_true", help="keep OUT.json's other tasks")
    args = p.parse_args(argv)
    if args.quick:
        args.images, args.crop, args.timesteps = 2, 64, [10, 20]
    return args


def eval_size(name: str, args: argparse.Namespace) -> tuple[int, int | None]:
    """(images, crop or None) for task ``name``: the flags, else :data:`EVAL_DEFAULTS`."""
    images, crop = EVAL_DEFAULTS.get(name, (8, 128))
    images = images if args.images is None else args.images
    crop = crop if args.crop is None else args.crop
    return images, crop or None


def checkpoints(args: argparse.Namespace) -> dict[str, Path]:
    from lava_spikingunet.checkpoints import repo_checkpoints_dir

    given = dict(c.split("=", 1) for c in args.checkpoint)
    names = args.tasks or [
        t for t in TASKS if t in given or (repo_checkpoints_dir() / f"{t}.pt").is_file()
    ]
    return {t: Path(given.get(t, repo_checkpoints_dir() / f"{t}.pt")) for t in names}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        results = json.loads(args.out.with_suffix(".json").read_text())
        write_text_atomic(args.out.with_suffix(".md"), markdown(results), True)
        return 0
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    argv = sys.argv[1:] if argv is None else argv
    command = " ".join([".venv/bin/python -m benchmarks.peer_spikingjelly", *argv])
    results: dict[str, Any] = {
        "settings": {
            "command": command,
            "spikingjelly": spikingjelly_version(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "percentile": args.percentile,
            "timesteps": args.timesteps,
            "threads": args.threads,
        },
        "tasks": {},
    }
    previous = args.out.with_suffix(".json")
    if args.merge and previous.is_file():
        old = json.loads(previous.read_text())
        for task in old["tasks"].values():
            task.setdefault("command", old["settings"]["command"])
        results["tasks"] = old["tasks"]
    t0 = time.monotonic()
    for name, ckpt in checkpoints(args).items():
        log(f"[{name}] {ckpt}")
        if not ckpt.is_file():
            results["tasks"][name] = {"error": f"no checkpoint at {ckpt}"}
            continue
        results["tasks"][name] = {"command": command, **task_bench(name, ckpt, args)}
        results["wall_s"] = round(time.monotonic() - t0, 1)
        write_results(results, args.out)
    results["wall_s"] = round(time.monotonic() - t0, 1)
    write_results(results, args.out)
    log(f"wrote {args.out}.json/.md in {results['wall_s']} s")
    return 0


def write_results(results: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out.with_suffix(".json"), json.dumps(results, indent=2) + "\n", True)
    write_text_atomic(out.with_suffix(".md"), markdown(results), True)


if __name__ == "__main__":
    sys.exit(main())
