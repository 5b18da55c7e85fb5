"""Scale of the Lava backend (issue #15): time, memory and exactness per frame size.

Rows (each in its own child process, so that one row's memory does not count in the next):

- ``grey-64`` .. ``grey-512``: the shipped grey denoiser (``netx_exports/denoise-grey``,
  T = 10, N = 6, graded form, 30 steps per frame) on scikit-image's ``camera`` (512x512
  grey, area-downsampled to the side) with Gaussian noise sigma 25 (seed 0);
- ``drive-full``: the shipped DRIVE segmenter (``netx_exports/drive``) on the first DRIVE
  test image, whole (584x565, padded to 584x568 as ``simulate`` pads it); whole-frame when
  the memory estimate fits, else tiled (``--tile``), as ``simulate`` decides;
- ``grey-256-cascade``: ``grey-256`` with the model run in the cascade neuron form
  (``simulate(..., form="cascade")``: the graded layers as compare-and-subtract stages);
- ``paper-64``: the paper-size U-Net (width 64, depth 4; random weights, activation
  scales calibrated on smooth random frames as the conversion does), converted,
  quantized (loihi2) and exported to netx HDF5, on a 64x64 frame.

How each figure is taken, per row, in one process with torch on ``--threads`` threads
(default 1) and ``OMP_NUM_THREADS`` set to the same number for the Lava workers:

- ``reference_s_per_frame``: wall time of ``pipeline.simulate.simulate(graph, x,
  "reference")``, what ``spikingunet simulate`` runs (input current, padding, the
  integer reference with its headroom statistics, cropping);
- ``lava_s_per_frame``: wall time of ``simulate(graph, x, "lava")``: the same, with Lava:
  building the processes, Lava's compile, forking the workers, every step, stop; it
  tiles by itself (``tiling.choose_tile``) when the memory estimate says the whole frame
  will not fit, as ``spikingunet simulate --backend lava`` does;
- ``ratio``: the two, measured in the same process one after the other (Lava first, so
  that the reference's buffers are not in the memory figures);
- ``peak_pss_mb``: the largest sum of the proportional set size (``Pss`` of
  ``/proc/<pid>/smaps_rollup``) of the row's process and all its Lava workers, sampled
  every 0.2 s during the Lava run; ``shm_peak_mb``: the largest ``/dev/shm`` use above its
  level before the run; ``peak_total_mb``: PSS without the shared-memory pages mapped by
  the processes, plus ``/dev/shm`` (each page once); the targets use ``peak_pss_mb +
  shm_peak_mb`` (an upper bound);
- ``bit_exact``: Lava's readout accumulator equals the reference's, element for element;
- ``estimate_mb``: ``limits.estimate_lava_memory`` before the run;
- ``load_avg_before``: the machine's 1-minute load average when the row started (the
  machine is shared: other jobs slow the Lava run, whose processes wait on each other
  every step, more than the single-threaded reference).

Writes ``benchmarks/results/scale.{json,md,png}``.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.scale [--rows grey-64 grey-512 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # also runnable as a plain script
    sys.path.insert(0, str(REPO))

RESULTS = REPO / "benchmarks" / "results"
ROWS = (
    "grey-64",
    "grey-128",
    "grey-256",
    "grey-512",
    "grey-256-cascade",
    "drive-full",
    "paper-64",
)
#: Run order: the targets first (results are written after every row).
RUN_ORDER = (
    "grey-512",
    "drive-full",
    "paper-64",
    "grey-256-cascade",
    "grey-256",
    "grey-128",
    "grey-64",
)
KEYS = (
    "frame",
    "form",
    "lava_s_per_frame",
    "reference_s_per_frame",
    "ratio",
    "peak_pss_mb",
    "shm_peak_mb",
    "bit_exact",
    "tiles",
)
MB = 1 << 20


def log(msg: str) -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------------------ one row


def _grey_frame(size: int):
    from lava_spikingunet.demo import add_noise, bundled_image

    return add_noise(bundled_image(size), 25.0, 0).reshape(1, size, size)


def _drive_frame():
    from lava_spikingunet.data.drive import DriveSplit

    split = DriveSplit.load(None, "test")
    return split.images[0][None].astype("float64"), split.names[0]


def _paper_model(workdir: Path) -> tuple[object, dict]:
    """Width 64, depth 4: build, calibrate, convert, quantize, export; times and sizes."""
    import torch

    from benchmarks.bench_reference import build_model
    from lava_spikingunet.backends.netx import export_netx, load_netx

    info: dict = {}
    t0 = time.perf_counter()
    unet, _graph, q, _frames = build_model(64, 4, 64, 10)
    info["convert_quantize_s"] = round(time.perf_counter() - t0, 2)
    info["parameters"] = int(sum(p.numel() for p in unet.parameters()))
    path = workdir / "paper.h5"
    t0 = time.perf_counter()
    export_netx(q, path, profile="loihi2")
    info["export_s"] = round(time.perf_counter() - t0, 2)
    info["export_mb"] = round(path.stat().st_size / MB, 2)
    t0 = time.perf_counter()
    loaded = load_netx(path)
    info["load_s"] = round(time.perf_counter() - t0, 2)
    del unet, torch
    return loaded, info


def _mapping(graph) -> dict:
    """Loihi 2 cores and chips of the row's graph (shared-weight mapping model, fan-in limit
    ``hw.mapping.FANIN_AXONS_ESTIMATE``; layers over it split over partial-sum neurons, whose
    cores and extra steps ``fanin_split`` gives), and whether it fits a Kapoho Point (8 chips)
    or a Hala Point (1152 chips)."""
    try:
        from lava_spikingunet.hw.mapping import map_graph
        from lava_spikingunet.hw.profiles import load_profile

        out = {}
        for form in ("graded", "cascade"):
            for label, limit in ((form, None), (f"{form}_no_fanin_limit", 10**9)):
                try:
                    m = map_graph(graph, load_profile("loihi2"), form, fanin_limit=limit)
                except Exception as exc:  # noqa: BLE001 - does not fit: say why
                    out[label] = {"error": str(exc)}
                    continue
                m = m.summary()
                keys = ("cores", "chips", "fanin_limit", "fanin_limit_estimated", "fanin_split")
                out[label] = {k: m[k] for k in keys}
                out[label]["fits_kapoho_point_8_chips"] = m["chips"] <= 8
                out[label]["fits_hala_point_1152_chips"] = m["chips"] <= 1152
        return out
    except Exception as exc:  # noqa: BLE001 - a figure for the table, not the benchmark
        return {"error": f"{type(exc).__name__}: {exc}"}


def run_row(name: str, threads: int, tile: str | None) -> dict:
    """Measure one row (in this process); returns its JSON record."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    import lava_spikingunet  # noqa: F401  (Lava compat hook first)
    from lava_spikingunet.backends.lava.memwatch import MemoryWatch
    from lava_spikingunet.limits import estimate_lava_memory
    from lava_spikingunet.model_io import load_model
    from lava_spikingunet.pipeline.simulate import simulate
    from lava_spikingunet.tiling import padded_current, parse_tile

    extra: dict = {}
    form_override = None
    if name.endswith("-cascade"):  # the same row in the cascade neuron form
        name, form_override = name.removesuffix("-cascade"), "cascade"
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        if name.startswith("grey-"):
            size = int(name.split("-")[1])
            graph = load_model(REPO / "netx_exports/denoise-grey/model.h5")
            x, what = _grey_frame(size), f"camera {size}x{size}, sigma 25"
        elif name == "drive-full":
            graph = load_model(REPO / "netx_exports/drive/model.h5")
            x, img = _drive_frame()
            what = f"DRIVE test {img}"
        elif name == "paper-64":
            graph, extra = _paper_model(Path(tmp))
            x = np.random.default_rng(0).uniform(0, 1, (1, 64, 64))
            what = "uniform random 64x64"
        else:
            raise SystemExit(f"unknown row {name!r}; rows: {', '.join(ROWS)}")
        if form_override is not None:
            graph = graph.copy()
            graph.meta.neuron_form = form_override
            name = f"{name}-{form_override}"
        form = graph.meta.neuron_form
        h, w = x.shape[1:]
        sized = graph.resized(*padded_current(graph, x).shape[2:])
        est = estimate_lava_memory(sized, form)
        tile_hw = parse_tile(tile) if tile else None
        log(f"{name}: {what}, {form} form, estimate {est.total / MB:.0f} MB")
        # Lava first: the reference's buffers would otherwise sit in this process's PSS
        with MemoryWatch() as mw:
            t0 = time.perf_counter()
            lava = simulate(graph, x, "lava", tile=tile_hw)  # tiles itself if too big
            t_lava = time.perf_counter() - t0
        log(f"{name}: lava {t_lava:.2f} s")
        t0 = time.perf_counter()
        ref = simulate(graph, x, "reference", tile=tile_hw)
        t_ref = time.perf_counter() - t0
        ref_acc, lava_acc, tiles = ref.acc, lava.acc, lava.tiles
        tile_hw = lava.tile if lava.tiles > 1 else tile_hw
        exact = bool(np.array_equal(ref_acc, lava_acc))
        log(f"{name}: lava {t_lava:.2f} s, ratio {t_lava / t_ref:.2f}, bit-exact {exact}")
        row = {
            "row": name,
            "input": what,
            "frame": f"{h}x{w}",
            "form": form,
            "lava_s_per_frame": round(t_lava, 3),
            "reference_s_per_frame": round(t_ref, 3),
            "ratio": round(t_lava / t_ref, 3),
            "peak_pss_mb": round(mw.peak_pss / MB, 1),
            "shm_peak_mb": round(mw.peak_shm / MB, 1),
            "peak_total_mb": round(mw.peak_total / MB, 1),
            "bit_exact": exact,
            "tiles": tiles,
            "tile": list(tile_hw) if tile_hw else None,
            "processes": mw.peak_procs,
            "estimate_mb": round(est.total / MB, 1),
            "estimate_shm_mb": round(est.shm / MB, 1),
            "threads": threads,
            **extra,
        }
        if name == "paper-64":
            row["loihi2_mapping"] = _mapping(graph)
    return row


# ------------------------------------------------------------------------------ outputs


def write_md(doc: dict, path: Path) -> None:
    from lava_spikingunet.fileio import write_text_atomic

    lines = [
        "# Lava at scale (issue #15)",
        "",
        f"{doc['machine']}; torch and the Lava workers on {doc['threads']} thread(s) "
        "(`OMP_NUM_THREADS`); one child process per row, Lava then the reference in it. "
        "How every figure is taken: `benchmarks/scale.py`'s docstring.",
        "",
        "| row | frame | form | tiles | Lava s/frame | reference s/frame | ratio | peak PSS MB "
        "| /dev/shm MB | PSS + shm MB | estimate MB | bit-exact |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in doc["rows"]:
        if "error" in r:
            lines.append(f"| {r['row']} | - | - | - | - | - | - | - | - | - | - | {r['error']} |")
            continue
        lines.append(
            f"| {r['row']} | {r['frame']} | {r['form']} | {r['tiles']} | "
            f"{r['lava_s_per_frame']:.1f} | {r['reference_s_per_frame']:.2f} | "
            f"{r['ratio']:.2f} | {r['peak_pss_mb']:.0f} | {r['shm_peak_mb']:.0f} | "
            f"{r['peak_pss_mb'] + r['shm_peak_mb']:.0f} | {r['estimate_mb']:.0f} | "
            f"{'yes' if r['bit_exact'] else 'NO'} |"
        )
    loads = [f"{r['row']} {r['load_avg_before']}" for r in doc["rows"] if "load_avg_before" in r]
    if loads:
        lines += [
            "",
            "Load average (1 min) when each row started, other jobs included: " + ", ".join(loads),
        ]
    for r in doc["rows"]:
        if r.get("row") == "paper-64" and "error" not in r:
            keys = ("parameters", "convert_quantize_s", "export_s", "export_mb", "load_s")
            lines += ["", "Paper-size U-Net: " + ", ".join(f"{k} {r.get(k)}" for k in keys)]
            lines.append(f"Loihi 2 mapping: {json.dumps(r.get('loihi2_mapping'))}")
    write_text_atomic(path, "\n".join(lines) + "\n", overwrite=True)


def write_png(doc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lava_spikingunet.fileio import atomic_path

    rows = [r for r in doc["rows"] if "error" not in r]
    names = [r["row"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.bar(names, [r["ratio"] for r in rows], color="tab:blue")
    a.axhline(3, color="k", ls="--", lw=1, label="target 3")
    a.set_ylabel("Lava / reference time")
    a.legend()
    pss = [r["peak_pss_mb"] / 1024 for r in rows]
    shm = [r["shm_peak_mb"] / 1024 for r in rows]
    b.bar(names, pss, label="summed PSS", color="tab:orange")
    b.bar(names, shm, bottom=pss, label="/dev/shm", color="tab:green")
    b.axhline(6, color="k", ls="--", lw=1, label="target 6 GB")
    b.set_ylabel("peak memory (GiB)")
    b.legend()
    for ax in (a, b):
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    with atomic_path(path, True) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _write_all(args: argparse.Namespace, rows: dict) -> None:
    from lava_spikingunet.fileio import write_text_atomic

    doc = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared)",
        "threads": args.threads,
        "keys": list(KEYS),
        "rows": [rows[n] for n in ROWS if n in rows],
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out_dir / "scale.json", json.dumps(doc, indent=1), overwrite=True)
    write_md(doc, args.out_dir / "scale.md")
    write_png(doc, args.out_dir / "scale.png")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", nargs="+", default=list(RUN_ORDER), choices=ROWS)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tile", default=None, help="tile every row (HxW); default: when needed")
    ap.add_argument("--out-dir", type=Path, default=RESULTS)
    ap.add_argument("--row-timeout", type=float, default=1200.0, help="seconds per row")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child: one row, JSON out
    args = ap.parse_args(argv)
    if args.one:
        print("ROW " + json.dumps(run_row(args.one, args.threads, args.tile)), flush=True)
        return 0
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    env["MKL_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = str(args.threads)
    old = {}
    old_path = args.out_dir / "scale.json"
    if old_path.is_file():  # rows not re-run are kept
        old = {r["row"]: r for r in json.loads(old_path.read_text()).get("rows", [])}
    for i, name in enumerate(args.rows, 1):
        log(f"[{i}/{len(args.rows)}] {name}")
        load = round(os.getloadavg()[0], 2)  # other jobs on the machine slow a row down
        cmd = [sys.executable, "-m", "benchmarks.scale", "--one", name]
        cmd += ["--threads", str(args.threads)] + (["--tile", args.tile] if args.tile else [])
        try:
            proc = subprocess.run(
                cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=args.row_timeout
            )
        except subprocess.TimeoutExpired:  # the child is killed; its workers die with it
            old[name] = {"row": name, "error": f"no result within {args.row_timeout} s"}
            log(f"  failed: timeout {args.row_timeout} s")
            _write_all(args, old)
            continue
        found = [ln for ln in proc.stdout.splitlines() if ln.startswith("ROW ")]
        for ln in proc.stdout.splitlines():
            if not ln.startswith("ROW "):
                log("  " + ln)
        if proc.returncode == 0 and found:
            old[name] = json.loads(found[-1][4:])
            old[name]["load_avg_before"] = load
        else:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            old[name] = {"row": name, "error": f"exit {proc.returncode}: {tail[:200]}"}
            log(f"  failed: {tail}")
        _write_all(args, old)  # after every row: a long run that is cut keeps what it has
    log(f"wrote {args.out_dir / 'scale.json'} (.md, .png)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
