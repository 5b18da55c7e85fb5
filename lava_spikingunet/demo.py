"""The main job on the shipped default: denoise a bundled image on the Lava CPU simulator.

The default model is the one-timestep I-LIF blind grey denoiser
(``netx_exports/denoise-grey-t1``); the T = 10 MT model (``netx_exports/denoise-grey``)
runs beside it (``compare``) so that steps per frame and synops per MAC stand side by side.
Steps, per model: load the shipped netx model, take scikit-image's bundled ``camera`` photograph,
add Gaussian noise (fixed seed), run the Spiking-UNet on Lava (``Loihi2SimCfg``
fixed_pt), run the PyTorch integer reference on the same integer input current, check
that every layer's spikes at every step and the readout are identical, then report
PSNR/SSIM against the clean image (and the float U-Net's, when its checkpoint is
shipped beside the model), steps per frame, synaptic operations and the Loihi 2
energy estimate, and write a figure and a JSON summary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lava_spikingunet.errors import InputError
from lava_spikingunet.locations import models_dir

DEFAULT_MODEL = models_dir() / "denoise-grey-t1" / "model.h5"
#: Run beside the default for comparison: the T = 10 multi-threshold model.
COMPARE_MODEL = models_dir() / "denoise-grey" / "model.h5"
FORMS = ("graded", "cascade", "virtual")


@dataclass
class DemoConfig:
    model: Path = DEFAULT_MODEL
    out: Path = Path("results/demo")
    size: int = 128
    sigma: float = 25.0
    seed: int = 0
    hw: str = "loihi2"
    form: str | None = None
    overwrite: bool = False
    compare: Path | None = COMPARE_MODEL


def bundled_image(size: int) -> np.ndarray:
    """scikit-image's bundled ``camera`` (512x512 grey), area-downsampled to ``size``."""
    from skimage import data
    from skimage.transform import resize

    img = data.camera().astype(np.float64) / 255.0
    if size != img.shape[0]:
        img = resize(img, (size, size), anti_aliasing=True, preserve_range=True)
    return img[None]  # (1, H, W)


def add_noise(clean: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Gaussian noise of ``sigma``/255 (DnCNN protocol: no clipping)."""
    rng = np.random.default_rng(seed)
    return clean + rng.normal(0.0, sigma / 255.0, size=clean.shape)


def _unet_output(model_path: Path, noisy: np.ndarray) -> np.ndarray | None:
    """The float U-Net's denoised image, if ``unet.pt`` is shipped beside the model."""
    ckpt = model_path.parent / "unet.pt"
    if not ckpt.is_file():
        return None
    import torch

    from lava_spikingunet.checkpoints import load_unet

    unet, _ = load_unet(ckpt)
    unet.eval()
    with torch.no_grad():
        y = unet(torch.as_tensor(noisy, dtype=torch.float32)[None])[0].double().numpy()
    return np.clip(noisy - y, 0.0, 1.0)


def _hwc(img: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W) for grey, (H, W, C) for colour (the metrics' layout)."""
    return img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)


def _figure(path: Path, images, titles, runs: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(3.4 * len(images), 7.5), constrained_layout=True)
    grid = fig.add_gridspec(2, len(images), height_ratios=[3, 2])
    for i, (img, title) in enumerate(zip(images, titles, strict=True)):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(np.clip(img[0], 0, 1), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    ax = fig.add_subplot(grid[1, :])
    width = 0.8 / len(runs)
    for j, run in enumerate(runs):
        vals = [run["synops_per_mac"][f] for f in FORMS]
        xs = [i + j * width for i in range(len(FORMS))]
        bars = ax.bar(xs, vals, width, label=f"{run['label']} ({run['steps_per_frame']} steps)")
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.axhline(1.0, color="k", ls="--", lw=0.8, label="U-Net: 1 MAC per MAC")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(FORMS))], FORMS)
    ax.set_yscale("log")
    ax.set_ylabel("synaptic ops per ANN MAC (log)")
    ax.set_title("cost per frame by neuron form (synops = spikes x fan-out, every step)")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def run_model(model: Path, noisy: np.ndarray, form: str | None, hw: str, log=None):
    """Reference + Lava on ``noisy`` for one shipped model; its figures and output image."""
    import lava_spikingunet as lsu
    from lava_spikingunet.graph.timing import pipeline_depth
    from lava_spikingunet.pipeline.verify import verify_runs
    from lava_spikingunet.profiling.synops import count_synops
    from lava_spikingunet.reference.input_current import size_multiple

    say = log or (lambda msg: None)
    graph = lsu.load(model)
    m = size_multiple(graph)
    size = noisy.shape[-1]
    if size % m:
        raise InputError(f"--size must divide by {m} (2^depth), got {size}")
    graph = graph.resized(size, size)
    form = form or graph.meta.neuron_form
    say(f"integer reference and Lava CPU simulator ({form} form)")
    _, [(check, lava)] = verify_runs(graph, noisy, [form])
    say("synaptic operations")
    scale = graph.node(graph.readout_name).scale
    denoised = np.clip(noisy - lava.output(scale)[0], 0.0, 1.0)  # DnCNN protocol
    counts = {n: s[:, None] for n, s in lava.spikes.items()}
    ops = count_synops(graph, counts)
    profile = lsu.load_profile(hw)
    synops = {f: int(ops.synops(f)) for f in FORMS}
    updates = {f: int(ops.neuron_updates(f)) for f in FORMS}
    run = {
        "model": str(model),
        "form": form,
        "bit_exact": bool(check["identical"]),
        "mismatching_layers": [r["layer"] for r in check["layers"] if r["mismatches"]],
        "timesteps": graph.meta.timesteps,
        "pipeline_depth": pipeline_depth(graph),
        "steps_per_frame": lava.frame_len,
        "lava_wall_s": lava.wall_s,
        "synops": synops,
        "ann_macs": int(ops.ann_macs),
        "synops_per_mac": {f: synops[f] / max(int(ops.ann_macs), 1) for f in FORMS},
        "energy_uj": {f: profile.energy_pj(synops[f], updates[f]) * 1e-6 for f in FORMS},
        "energy_profile": profile.name,
        "energy_estimated": bool(profile.energy.estimated),
        "firing_rates": {
            n: float(lava.spikes[n].astype(np.float64).mean()) for n in graph.neurons()
        },
    }
    return run, denoised


def run_demo(cfg: DemoConfig, log=print) -> dict[str, Any]:
    """Run the demo; returns the summary that is also written to ``summary.json``."""
    from tqdm import tqdm

    from lava_spikingunet.fileio import atomic_path, check_writable, write_text_atomic
    from lava_spikingunet.metrics import psnr, ssim

    if not cfg.model.is_file():
        raise InputError(
            f"shipped model {cfg.model} not found; the repository ships it under netx_exports/"
        )
    compare_with = cfg.compare if cfg.compare is not None and cfg.compare.is_file() else None
    fig_path, json_path = cfg.out / "demo.png", cfg.out / "summary.json"
    for p in (fig_path, json_path):
        check_writable(p, cfg.overwrite)
    models = [cfg.model] + ([compare_with] if compare_with else [])
    clean = bundled_image(cfg.size)
    noisy = add_noise(clean, cfg.sigma, cfg.seed)
    stages = tqdm(total=len(models) + 1, desc="demo", unit="model",
                  bar_format="{desc}: {n}/{total} {postfix}")  # fmt: skip
    runs, outputs = [], []
    try:
        for i, model in enumerate(models):
            tag = "default" if i == 0 else "comparison"
            run, denoised = run_model(
                model, noisy, cfg.form if i == 0 else None, cfg.hw,
                log=lambda msg, tag=tag: stages.set_postfix_str(f"{tag}: {msg}"),
            )  # fmt: skip
            run["label"] = f"T={run['timesteps']}" + (" I-LIF" if run["timesteps"] == 1 else " MT")
            run["psnr_lava"] = psnr(denoised, clean)
            run["ssim_lava"] = ssim(_hwc(denoised), _hwc(clean))
            unet = _unet_output(model, noisy)
            run["psnr_unet"] = None if unet is None else psnr(unet, clean)
            run["ssim_unet"] = None if unet is None else ssim(_hwc(unet), _hwc(clean))
            runs.append(run)
            outputs.append(denoised)
            stages.update()
        stages.set_postfix_str("figure")
        titles = [f"noisy (sigma {cfg.sigma:g}): {psnr(noisy, clean):.2f} dB"]
        titles += [
            f"{r['label']} on Lava: {r['psnr_lava']:.2f} dB\n{r['steps_per_frame']} steps, "
            f"{r['synops_per_mac']['graded']:.2f} synops/MAC"
            for r in runs
        ]
        cfg.out.mkdir(parents=True, exist_ok=True)
        with atomic_path(fig_path, cfg.overwrite) as tmp:
            _figure(tmp, [noisy, *outputs, clean], [*titles, "clean"], runs)
        stages.update()
    finally:
        stages.close()

    main = runs[0]
    summary: dict[str, Any] = {
        "model": str(cfg.model),
        "image": f"skimage.data.camera() resized to {cfg.size}x{cfg.size}",
        "sigma": cfg.sigma,
        "seed": cfg.seed,
        **{k: v for k, v in main.items() if k not in ("model", "label")},
        "psnr_noisy": psnr(noisy, clean),
        "bit_exact": all(r["bit_exact"] for r in runs),
        "compare": runs[1] if len(runs) > 1 else None,
        "figure": str(fig_path),
    }
    write_text_atomic(json_path, json.dumps(summary, indent=2), cfg.overwrite)
    return summary


def format_summary(s: dict[str, Any]) -> str:
    """The demo's closing lines for the terminal: the default model and the comparison."""
    est = " (estimates, see hw_profiles/)" if s["energy_estimated"] else ""
    runs = [("default", s)] + ([("comparison", s["compare"])] if s.get("compare") else [])
    lines = [
        f"bit-exact Lava vs integer reference: {'YES' if s['bit_exact'] else 'NO'}"
        + "".join(
            f"  {name}: mismatching layers {r['mismatching_layers']}"
            for name, r in runs
            if not r["bit_exact"]
        ),
        f"PSNR noisy {s['psnr_noisy']:.2f} dB (sigma {s['sigma']:g})",
        "",
        f"{'model':<16}{'PSNR Lava':>10}{'U-Net':>8}{'T':>4}{'steps':>7}"
        f"{'synops/MAC graded':>19}{'cascade':>9}{'virtual':>9}{'uJ graded':>11}",
    ]
    for name, r in runs:
        unet = "-" if r["psnr_unet"] is None else f"{r['psnr_unet']:.2f}"
        spm = r["synops_per_mac"]
        label = f"{name} ({'I-LIF' if r['timesteps'] == 1 else 'MT'})"
        lines.append(
            f"{label:<16}{r['psnr_lava']:>10.2f}{unet:>8}{r['timesteps']:>4}"
            f"{r['steps_per_frame']:>7}{spm['graded']:>19.3f}{spm['cascade']:>9.3f}"
            f"{spm['virtual']:>9.3f}{r['energy_uj']['graded']:>11.1f}"
        )
    lines += [
        "",
        f"steps per frame = T + pipeline depth; synops = spikes x fan-out over every step; "
        f"energy: {s['energy_profile']}{est}",
        f"figure: {s['figure']}",
    ]
    return "\n".join(lines)
