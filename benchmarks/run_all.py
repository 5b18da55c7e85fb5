"""Regenerate every benchmark figure the README and the model cards quote (JSON + markdown).

    .venv/bin/python -m benchmarks.run_all            # everything (long: hours on 2 cores)
    .venv/bin/python -m benchmarks.run_all --quick    # the same tables on fewer images
    .venv/bin/python -m benchmarks.run_all --only reference lava_synapse

Each step is one benchmark module run as a subprocess (so a failure in one does not
stop the rest); results land in benchmarks/results/, and benchmarks/results/INDEX.md
lists what ran, its exit status and its wall time. `--ship` also rebuilds the shipped
models and their cards (netx_exports/, benchmarks/ship_models.py).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

#: name -> (module, full args, quick args)
STEPS: dict[str, tuple[str, list[str], list[str]]] = {
    "baselines": ("benchmarks.train_baselines", [], []),
    "reference": ("benchmarks.bench_reference", ["--accuracy"], ["--quick", "--accuracy"]),
    "lava_synapse": ("benchmarks.bench_lava_synapse", [], ["--repeats", "2"]),
    "scale": ("benchmarks.scale", [], ["--rows", "grey-64", "grey-128"]),
    "conversion": ("benchmarks.conversion_tables", [], ["--quick"]),
    "accuracy_vs_t": ("benchmarks.accuracy_vs_t", [], ["--quick"]),
    "peer_spikingjelly": ("benchmarks.peer_spikingjelly", [], ["--quick"]),
    "peer_spikingjelly_full": (
        "benchmarks.peer_spikingjelly",
        [
            "--tasks",
            "denoise-grey",
            "--images",
            "8",
            "--crop",
            "0",
            "--no-ours-if",
            "--out",
            "benchmarks/results/peer_spikingjelly_full",
        ],
        ["--quick", "--tasks", "denoise-grey", "--out", "benchmarks/results/peer_quick_grey"],
    ),  # fmt: skip
    "ilif": ("benchmarks.ilif", [], ["--images", "3", "--preset-images", "2", "--quick"]),
    "demo": (
        "lava_spikingunet",
        ["demo", "--overwrite", "--out", "benchmarks/results/demo"],
        ["demo", "--overwrite", "--out", "benchmarks/results/demo"],
    ),
}
SHIP_TASKS = ("denoise-grey", "drive")
#: The one-timestep I-LIF models (``ship_models TASK --ilif`` -> netx_exports/TASK-t1/).
SHIP_ILIF_TASKS = ("denoise-grey", "denoise-colour", "drive", "isbi2012", "camseq01")


def run_step(module: str, args: list[str]) -> tuple[int, float]:
    t0 = time.perf_counter()
    code = subprocess.call([sys.executable, "-m", module, *args], cwd=REPO)
    return code, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer images / repeats per table")
    p.add_argument("--only", nargs="+", choices=sorted(STEPS), help="run only these steps")
    p.add_argument("--ship", action="store_true", help="also rebuild netx_exports/ models")
    args = p.parse_args(argv)

    rows = []
    if args.ship:  # first: the demo and the cards read the shipped models
        for task in SHIP_TASKS:
            code, secs = run_step("benchmarks.ship_models", [task])
            rows.append((f"ship {task}", "benchmarks.ship_models", code, secs))
        for task in SHIP_ILIF_TASKS:
            code, secs = run_step("benchmarks.ship_models", [task, "--ilif", "--threads", "1"])
            rows.append((f"ship {task} --ilif", "benchmarks.ship_models", code, secs))
    for name in args.only or list(STEPS):
        module, full, quick = STEPS[name]
        print(f"\n=== {name}: python -m {module} {' '.join(quick if args.quick else full)}")
        code, secs = run_step(module, quick if args.quick else full)
        rows.append((name, module, code, secs))
    RESULTS.mkdir(parents=True, exist_ok=True)
    lines = ["# Benchmark runs", "", "| step | command | exit | wall |", "|---|---|---|---|"]
    for name, module, code, secs in rows:
        lines.append(f"| {name} | `python -m {module}` | {code} | {secs / 60:.1f} min |")
    lines += ["", "Results: the `*.json` / `*.md` files beside this one."]
    (RESULTS / "INDEX.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(code == 0 for *_, code, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
