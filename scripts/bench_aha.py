"""`make bench-aha`: does the CPU default recipe show the R1-Zero dynamics, above seed noise?

Runs the recipe end to end (tiny base build + GRPO + held-out before/after) once per seed, each
from scratch, times it, and prints every seed's held-out numbers, the medians and the targets:

    python -m scripts.bench_aha                                  # 3 seeds of recipes/cpu_countdown_tiny.yaml
    python -m scripts.bench_aha --seeds 0 --args "--max_steps 20"   # one quick look

Targets (issues #5 and #12), checked on the medians: format <= 0.3 before and >= 0.9 after;
accuracy x2; self-check share x2 with >= 90 % honest checks; mean length rises; wall time per run
<= 10 min (base build included). A missed target is printed as MISSED, never hidden.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from scripts.lib.benchmarking import print_targets
from scripts.lib.cli import ArgumentParser, run_cli

KEYS = ["format", "accuracy", "self_check", "honest_checks", "mean_length"]


def run_seed(recipe: str, seed: int, root: Path, extra: list[str], resume: bool = False) -> dict:
    out = root / f"seed{seed}"
    record = root / f"seed{seed}.json"
    if resume and record.is_file():
        print(f"seed {seed}: already measured ({record})")
        return json.loads(record.read_text())
    cmd = [sys.executable, "-m", "scripts.train", "--config", recipe, "--seed", str(seed),
           "--output_dir", str(out), "--model_name_or_path", str(root / f"base-seed{seed}"),
           "--disable_tqdm", "true", *extra]
    if out.exists():
        import shutil

        shutil.rmtree(out)
    started = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - started
    (root / f"seed{seed}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"seed {seed} failed (exit {proc.returncode}); log: {root / f'seed{seed}.log'}")
    result = json.loads((out / "held_out.json").read_text())
    result["wall_s"] = wall
    record.write_text(json.dumps(result, indent=2))
    return result


def targets(median_before: dict, median_after: dict, wall: float, wall_limit: float) -> list[tuple[str, bool, str]]:
    b, a = median_before, median_after
    return [
        ("format <= 0.3 before, >= 0.9 after", b["format"] <= 0.3 and a["format"] >= 0.9,
         f"{b['format']:.3f} -> {a['format']:.3f}"),
        ("accuracy x2", a["accuracy"] >= 2 * b["accuracy"], f"{b['accuracy']:.3f} -> {a['accuracy']:.3f}"),
        ("self-check share x2", a["self_check"] >= 2 * b["self_check"],
         f"{b['self_check']:.3f} -> {a['self_check']:.3f}"),
        (">= 90 % of checks honest (after)", a.get("honest_checks", 0) >= 0.9,
         f"{a.get('honest_checks', float('nan')):.3f}"),
        ("mean length rises", a["mean_length"] > b["mean_length"],
         f"{b['mean_length']:.1f} -> {a['mean_length']:.1f} tokens"),
        (f"wall time <= {wall_limit / 60:.0f} min per run", wall <= wall_limit, f"{wall / 60:.1f} min (median)"),
    ]


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="recipes/cpu_countdown_tiny.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="outputs/bench_aha")
    parser.add_argument("--args", default="", help="extra flags for scripts.train, e.g. \"--max_steps 20\"")
    parser.add_argument("--wall-limit-min", type=float, default=10.0)
    parser.add_argument("--resume", action="store_true",
                        help="keep seeds already measured in --out (seed<N>.json) instead of rerunning them")
    args = parser.parse_args(argv)

    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    results = {}
    for seed in args.seeds:
        print(f"seed {seed}: running {args.recipe} ...", flush=True)
        results[seed] = run_seed(args.recipe, seed, root, shlex.split(args.args), resume=args.resume)
        r = results[seed]
        print(f"seed {seed}: {r['wall_s'] / 60:.1f} min  " + "  ".join(
            f"{k} {r['before'].get(k, float('nan')):.3f}->{r['after'].get(k, float('nan')):.3f}" for k in KEYS))

    print("\n| seed | wall (min) | " + " | ".join(f"{k} before -> after" for k in KEYS) + " |")
    print("|---|---|" + "---|" * len(KEYS))
    for seed, r in results.items():
        cells = [f"{r['before'].get(k, float('nan')):.3f} -> {r['after'].get(k, float('nan')):.3f}" for k in KEYS]
        print(f"| {seed} | {r['wall_s'] / 60:.1f} | " + " | ".join(cells) + " |")
    med_b = {k: statistics.median(r["before"].get(k, float("nan")) for r in results.values()) for k in KEYS}
    med_a = {k: statistics.median(r["after"].get(k, float("nan")) for r in results.values()) for k in KEYS}
    wall = statistics.median(r["wall_s"] for r in results.values())
    print("| median | %.1f | " % (wall / 60) + " | ".join(f"{med_b[k]:.3f} -> {med_a[k]:.3f}" for k in KEYS) + " |")

    print("\nTargets (on the medians):")
    print_targets(targets(med_b, med_a, wall, args.wall_limit_min * 60))
    example = next(iter(results.values()))
    print(f"\nexample (seed {next(iter(results))}), prompt: {example['prompt']}")
    print(f"  before: {example['example_before']}\n  after:  {example['example_after']}")
    (root / "summary.json").write_text(json.dumps({"seeds": results, "median_before": med_b, "median_after": med_a,
                                                   "median_wall_s": wall}, indent=2, default=str))
    return 0


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
