"""Per-step wall time: the project's ConvSynapse vs Lava's stock Conv (fixed_pt).

Layer: 16x64x64 -> 16x64x64, 3x3, padding 1, 8-bit weights, fed by a stock
``lava.proc.io.source.RingBuffer`` sending random binary spikes (20 % density). Two
networks per synapse under ``Loihi2SimCfg(select_tag="fixed_pt")``:

- ``synapse``: source -> synapse (a_out unconnected);
- ``layer``: source -> synapse -> neuron (ours: MTNeuron, stock: LIF).

Each network runs ``--warmup`` steps (compile, start, first steps) then ``--repeats``
timed runs of ``--steps`` steps; the per-step time is the best timed run / steps. Also
times the synapse arithmetic alone (no Lava) and checks that both compute the same
currents. Writes ``benchmarks/results/lava_synapse.json`` and ``.md``.

    .venv/bin/python -m benchmarks.bench_lava_synapse
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # also runnable as a plain script
    sys.path.insert(0, str(REPO))

import lava_spikingunet  # noqa: E402,F401  (Lava compat hook first)

RESULTS = REPO / "benchmarks" / "results"
C, H, W, K = 16, 64, 64, 3


def make_data(steps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    weight = rng.integers(-128, 128, size=(C, C, K, K))  # (C_out, C_in, kh, kw)
    spikes = (rng.random((C, H, W, steps)) < 0.2).astype(np.int32)  # (C, H, W, T)
    return weight, spikes


def stock_weight(weight: np.ndarray) -> np.ndarray:
    """Our (C_out, C_in, ky, kx) cross-correlation kernel in the stock layout.

    Stock Conv: input (X, Y, C), weight (C_out, kx, ky, C_in), and a true convolution
    (it flips the kernel), so the kernel is flipped here to compute the same currents.
    """
    return np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(0, 3, 2, 1))


def build(kind: str, with_neuron: bool, weight: np.ndarray, spikes: np.ndarray):
    """Build one network; returns its source process (run and stop through it)."""
    from lava.proc.io.source import RingBuffer

    if kind == "ours":
        from lava_spikingunet.backends.lava import ConvSynapse, MTNeuron

        src = RingBuffer(data=spikes)
        syn = ConvSynapse(weight=weight, in_shape=(C, H, W), padding=1, weight_exp=-4)
        post = MTNeuron(shape=(C, H, W), theta_unit_int=64) if with_neuron else None
    else:
        from lava.proc.conv.process import Conv
        from lava.proc.lif.process import LIF

        src = RingBuffer(data=np.ascontiguousarray(spikes.transpose(2, 1, 0, 3)))
        syn = Conv(weight=stock_weight(weight), input_shape=(W, H, C), padding=1)
        post = LIF(shape=(W, H, C), du=4095, dv=0, vth=10_000) if with_neuron else None
    src.s_out.connect(syn.s_in)
    if post is not None:
        syn.a_out.connect(post.a_in)
    return src


def time_network(kind: str, with_neuron: bool, steps: int, warmup: int, repeats: int) -> dict:
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    from lava_spikingunet.backends.lava.runner import lava_session

    weight, spikes = make_data(warmup + steps * repeats)
    src = build(kind, with_neuron, weight, spikes)
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    with lava_session(src, timeout=60):
        t0 = time.perf_counter()
        src.run(condition=RunSteps(num_steps=warmup), run_cfg=cfg)
        startup = time.perf_counter() - t0
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            src.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
            runs.append((time.perf_counter() - t0) / steps)
    return {
        "ms_per_step": 1e3 * min(runs),
        "ms_per_step_runs": [1e3 * r for r in runs],
        "startup_and_warmup_s": startup,
    }


def time_compute(reps: int = 20) -> dict:
    """The synapse arithmetic alone, and a check that both give the same currents."""
    from lava.proc.conv import utils

    from lava_spikingunet.backends.lava.numpy_ops import Conv2d, shift

    weight, spikes = make_data(1)
    x = spikes[..., 0]
    op = Conv2d(weight, 1, 1)
    ours = shift(op(x), 0)
    stock_w, stock_x = stock_weight(weight), x.transpose(2, 1, 0)
    stock = utils.conv(stock_x, stock_w, (K, K), (1, 1), (1, 1), (1, 1), 1)
    same = bool(np.array_equal(ours, np.asarray(stock).transpose(2, 1, 0)))

    def best(fn) -> float:
        fn()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return 1e3 * min(times)

    return {
        "ours_ms": best(lambda: shift(op(x), -4)),
        "stock_ms": best(lambda: utils.conv(stock_x, stock_w, (K, K), (1, 1), (1, 1), (1, 1), 1)),
        "same_currents": same,
    }


def write(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lava_synapse.json").write_text(json.dumps(results, indent=2) + "\n")
    net, comp = results["networks"], results["compute_only"]
    lines = [
        "# ConvSynapse vs stock Lava Conv (fixed_pt)",
        "",
        f"Layer {C}x{H}x{W} -> {C}x{H}x{W}, {K}x{K}, padding 1, random binary input (20 %). "
        f"{results['steps']} steps x {results['repeats']} runs after {results['warmup']} "
        f"warm-up steps; best run. Machine: {results['machine']} (1-min load average "
        f"{results['load_average_1min']:.1f} while measuring: absolute times are noisy, "
        "the ratios less so).",
        "",
        "| network | ours ms/step | stock ms/step | speed-up |",
        "|---|---:|---:|---:|",
    ]
    for name in ("synapse", "layer"):
        o, s = net[f"ours_{name}"]["ms_per_step"], net[f"stock_{name}"]["ms_per_step"]
        lines.append(f"| {name} | {o:.2f} | {s:.2f} | {s / o:.1f}x |")
    lines += [
        f"| arithmetic only (no Lava) | {comp['ours_ms']:.2f} | {comp['stock_ms']:.2f} | "
        f"{comp['stock_ms'] / comp['ours_ms']:.1f}x |",
        "",
        "`synapse`: source -> synapse; `layer`: source -> synapse -> neuron (ours MTNeuron, "
        "stock LIF). Same currents as the stock model (weight_exp 0): "
        f"{comp['same_currents']}.",
        "",
    ]
    (RESULTS / "lava_synapse.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    networks = {}
    for name, with_neuron in (("synapse", False), ("layer", True)):
        for kind in ("ours", "stock"):
            networks[f"{kind}_{name}"] = time_network(
                kind, with_neuron, args.steps, args.warmup, args.repeats
            )
            print(f"{kind:5s} {name:7s} {networks[f'{kind}_{name}']['ms_per_step']:.2f} ms/step")
    results = {
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, numpy {np.__version__}",
        "load_average_1min": os.getloadavg()[0],
        "networks": networks,
        "compute_only": time_compute(),
        "speedup_synapse": networks["stock_synapse"]["ms_per_step"]
        / networks["ours_synapse"]["ms_per_step"],
        "speedup_layer": networks["stock_layer"]["ms_per_step"]
        / networks["ours_layer"]["ms_per_step"],
    }
    write(results)
    print(
        json.dumps(
            {k: results[k] for k in ("compute_only", "speedup_synapse", "speedup_layer")}, indent=2
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
