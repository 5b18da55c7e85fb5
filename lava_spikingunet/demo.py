"""The main job on the shipped default: denoise a bundled image on the Lava CPU simulator.

Steps: load the shipped netx model, take scikit-image's bundled ``camera`` photograph,
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

from lava_spikingunet.errors import UserError

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "netx_exports" / "denoise-grey" / "model.h5"


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


def _figure(path: Path, noisy, denoised, clean, rates: dict[str, float], titles) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(13, 7.5), constrained_layout=True)
    grid = fig.add_gridspec(2, 3, height_ratios=[3, 2])
    for i, (img, title) in enumerate(zip((noisy, denoised, clean), titles, strict=True)):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(np.clip(img[0], 0, 1), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title)
        ax.axis("off")
    ax = fig.add_subplot(grid[1, :])
    names = list(rates)
    ax.bar(range(len(names)), [rates[n] for n in names], color="tab:blue")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("spikes per neuron per step")
    ax.set_title("firing rate per layer (Lava run, graded form)")
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def run_demo(cfg: DemoConfig, log=print) -> dict[str, Any]:
    """Run the demo; returns the summary that is also written to ``summary.json``."""
    from tqdm import tqdm

    from lava_spikingunet.backends.lava_network import run_lava
    from lava_spikingunet.backends.netx import read_netx
    from lava_spikingunet.commands.verify import compare
    from lava_spikingunet.fileio import atomic_path, check_writable, write_text_atomic
    from lava_spikingunet.graph.timing import pipeline_depth
    from lava_spikingunet.hw.profiles import load_profile
    from lava_spikingunet.metrics import psnr, ssim
    from lava_spikingunet.profiling.synops import count_synops
    from lava_spikingunet.reference.input_current import input_current, size_multiple
    from lava_spikingunet.reference.simulator import simulate

    if not cfg.model.is_file():
        raise UserError(
            f"shipped model {cfg.model} not found; the repository ships it under netx_exports/"
        )
    fig_path, json_path = cfg.out / "demo.png", cfg.out / "summary.json"
    for p in (fig_path, json_path):
        check_writable(p, cfg.overwrite)
    stages = tqdm(total=6, desc="demo", unit="stage", bar_format="{desc}: {n}/{total} {postfix}")
    try:
        stages.set_postfix_str("loading the model")
        graph, info = read_netx(cfg.model)
        m = size_multiple(graph)
        if cfg.size % m:
            raise UserError(f"--size must divide by {m} (2^depth), got {cfg.size}")
        graph = graph.resized(cfg.size, cfg.size)
        form = cfg.form or graph.meta.neuron_form
        clean = bundled_image(cfg.size)
        noisy = add_noise(clean, cfg.sigma, cfg.seed)
        current = input_current(graph, noisy[None])
        stages.update()

        stages.set_postfix_str("integer reference")
        ref = simulate(graph, current=current, record_spikes=True)
        stages.update()

        stages.set_postfix_str(f"Lava CPU simulator ({form} form)")
        lava = run_lava(graph, current, form=form, record=True)
        stages.update()

        stages.set_postfix_str("bit-exact check")
        check = compare(graph, ref, lava)
        scale = graph.node(graph.readout_name).scale
        denoised = np.clip(noisy - lava.output(scale)[0], 0.0, 1.0)  # DnCNN protocol
        unet_denoised = _unet_output(cfg.model, noisy)
        stages.update()

        stages.set_postfix_str("synaptic operations")
        counts = {n: s[:, None] for n, s in lava.spikes.items()}
        ops = count_synops(graph, counts)
        profile = load_profile(cfg.hw)
        stages.update()

        stages.set_postfix_str("figure")
        rates = {n: float(lava.spikes[n].astype(np.float64).mean()) for n in graph.neurons()}
        titles = (
            f"noisy (sigma {cfg.sigma:g}): {psnr(noisy, clean):.2f} dB",
            f"Spiking-UNet on Lava: {psnr(denoised, clean):.2f} dB",
            "clean",
        )
        cfg.out.mkdir(parents=True, exist_ok=True)
        with atomic_path(fig_path, cfg.overwrite) as tmp:
            _figure(tmp, noisy, denoised, clean, rates, titles)
        stages.update()
    finally:
        stages.close()

    synops = {f: int(ops.synops(f)) for f in ("graded", "cascade")}
    updates = {f: int(ops.neuron_updates(f)) for f in ("graded", "cascade")}
    summary: dict[str, Any] = {
        "model": str(cfg.model),
        "image": f"skimage.data.camera() resized to {cfg.size}x{cfg.size}",
        "sigma": cfg.sigma,
        "seed": cfg.seed,
        "form": form,
        "bit_exact": bool(check["identical"]),
        "mismatching_layers": [r["layer"] for r in check["layers"] if r["mismatches"]],
        "psnr_noisy": psnr(noisy, clean),
        "psnr_lava": psnr(denoised, clean),
        "ssim_lava": ssim(_hwc(denoised), _hwc(clean)),
        "psnr_unet": None if unet_denoised is None else psnr(unet_denoised, clean),
        "ssim_unet": None if unet_denoised is None else ssim(_hwc(unet_denoised), _hwc(clean)),
        "timesteps": graph.meta.timesteps,
        "pipeline_depth": pipeline_depth(graph),
        "steps_per_frame": lava.frame_len,
        "lava_wall_s": lava.wall_s,
        "synops": synops,
        "ann_macs": int(ops.ann_macs),
        "energy_uj": {
            f: profile.energy_pj(synops[f], updates[f]) * 1e-6 for f in ("graded", "cascade")
        },
        "energy_profile": profile.name,
        "energy_estimated": bool(profile.energy.estimated),
        "firing_rates": rates,
        "figure": str(fig_path),
    }
    write_text_atomic(json_path, json.dumps(summary, indent=2), cfg.overwrite)
    return summary


def format_summary(s: dict[str, Any]) -> str:
    """The demo's closing lines for the terminal."""
    unet = "" if s["psnr_unet"] is None else f"   (float U-Net: {s['psnr_unet']:.2f} dB)"
    est = " (estimate, see hw_profiles/)" if s["energy_estimated"] else ""
    lines = [
        f"bit-exact Lava vs integer reference: {'YES' if s['bit_exact'] else 'NO'}"
        + ("" if s["bit_exact"] else f"  mismatching layers: {s['mismatching_layers']}"),
        f"PSNR noisy {s['psnr_noisy']:.2f} dB -> Spiking-UNet on Lava {s['psnr_lava']:.2f} dB,"
        f" SSIM {s['ssim_lava']:.4f}{unet}",
        f"steps per frame: {s['steps_per_frame']} (T {s['timesteps']} + pipeline depth "
        f"{s['pipeline_depth']}); Lava wall time {s['lava_wall_s']:.1f} s",
        f"synaptic ops per frame: {s['synops']['graded']:,} graded / "
        f"{s['synops']['cascade']:,} binary cascade",
        f"{s['energy_profile']} energy per frame{est}: "
        f"{s['energy_uj']['graded']:.1f} uJ graded / {s['energy_uj']['cascade']:.1f} uJ cascade",
        f"figure: {s['figure']}",
    ]
    return "\n".join(lines)
