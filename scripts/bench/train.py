"""`make bench-train`: where a GRPO step's time goes, and what the kit adds over bare TRL.

The same recipe (default: recipes/cpu_countdown_tiny.yaml, shortened to a few steps) is trained
on a local tiny model two ways, each in a fresh process, several times, interleaved
(kit, bare, kit, bare, ...) so that machine noise hits both alike:

* **project**: ``scripts.train`` exactly as ``make train`` runs it (recipe parsing, data path,
  rewards registry, AhaTracker and the other callbacks);
* **bare**: a minimal ``GRPOTrainer`` script with the same model, data rows, reward functions and
  ``GRPOConfig``, and none of the kit's callbacks.

It first times the data path (the GSM8K train split preprocessed, 100,000 Countdown problems
generated; targets < 3 s and < 10 s), then prints the median seconds per step (the first steps
excluded as warm-up), completion tokens/s, peak RSS and the ratio project/bare (target <= 1.05);
then one step taken apart (generation,
each reward, log-probs, loss, backward, each callback, logging, optimizer) from TRL's own
``profiling_context`` timers plus timers on ``training_step``, ``log`` and every callback event.

    python -m scripts.bench.train                                    # what `make bench-train` runs
    python -m scripts.bench.train --reps 1 --steps 2 --warmup 0      # a smoke test
    python -m scripts.bench.train --variant threads1="OMP_NUM_THREADS=1" \\
        --variant eager="--attn_implementation eager"                # options vs the recipe as is

A ``--variant NAME="FLAGS"`` runs the project path with extra recipe flags (and ``VAR=value``
environment settings), interleaved with the others, and is reported as a ratio to the project
row. Timings from a shared machine are noisy: compare ratios measured in the same invocation.
"""


from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from scripts.bench.train_report import data_path_rows, machine_line, training_report
from scripts.bench.train_runs import CACHED_BASE, parse_variant, resolve_model, run_once, worker
from scripts.bench.train_timing import summarise
from scripts.lib.recipe.cli import ArgumentParser, UserError, run_cli
from scripts.lib.recipe.parsing import parse_recipe

DEFAULT_RECIPE = "recipes/cpu_countdown_tiny.yaml"
DEFAULT_GSM8K = "../shared/data/gsm8k/train.jsonl"


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default=DEFAULT_RECIPE)
    parser.add_argument("--model", default=None,
                        help=f"model folder (default: {CACHED_BASE} if built, else an untrained one of the recipe's shape)")
    parser.add_argument("--reps", type=int, default=5, help="runs per path, interleaved")
    parser.add_argument("--steps", type=int, default=10, help="GRPO steps per run")
    parser.add_argument("--warmup", type=int, default=2, help="first steps left out of the timings")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads in every run (OMP_NUM_THREADS); 0: torch's default (one per core)")
    parser.add_argument("--args", default="", help="extra recipe flags for every run, e.g. \"--max_completion_length 64\"")
    parser.add_argument("--variant", action="append", default=[],
                        help="NAME=\"FLAGS\": also run the project path with these flags / VAR=value settings")
    parser.add_argument("--gsm8k", default=None, help=f"GSM8K train jsonl to time (default: {DEFAULT_GSM8K} if present)")
    parser.add_argument("--countdown-n", type=int, default=100_000, help="Countdown problems to generate")
    parser.add_argument("--out", default="outputs/bench_train")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker)

    if not Path(args.recipe).is_file():
        raise UserError(f"recipe file not found: {args.recipe} (recipes live in recipes/)")
    if args.model and not (Path(args.model) / "config.json").is_file():
        raise UserError(f"--model {args.model}: not a model folder (no config.json)")
    gsm8k = args.gsm8k or (DEFAULT_GSM8K if Path(DEFAULT_GSM8K).is_file() else None)
    if args.gsm8k and not Path(args.gsm8k).is_file():
        raise UserError(f"--gsm8k {args.gsm8k}: file not found (GSM8K's train.jsonl)")
    if args.reps < 1 or args.steps < args.warmup + 2:
        raise UserError(f"need --reps >= 1 and --steps >= --warmup + 2 (got {args.reps}, {args.steps}, {args.warmup})")
    try:
        variants = [parse_variant(v) for v in args.variant]
    except ValueError as err:
        raise UserError(str(err)) from None

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    common = ["--config", args.recipe, "--tiny_base_recipe", "", "--max_steps", str(args.steps),
              "--holdout_size", "0", *shlex.split(args.args)]
    model, model_note = resolve_model(args.model, args.recipe, out)
    script_args, _, _ = parse_recipe(common + ["--model_name_or_path", model])
    for name, flags, _ in variants:
        parse_recipe(common + ["--model_name_or_path", model, *flags])
    common += ["--model_name_or_path", model]

    print(f"# make bench-train: {args.recipe}\nmodel: {model_note}")
    print(f"machine: {machine_line()}")
    print("(a shared or busy machine inflates every number; the ratios, measured interleaved in one run, are what "
          "to compare)\n")

    print("Data path (single-threaded: wall = CPU seconds on an idle core; the targets are for 2 quiet cores)\n")
    print("| step | wall s | CPU s | target | on CPU s |\n|---|---|---|---|---|")
    for row in data_path_rows(gsm8k, args.countdown_n, script_args.countdown_settings()):
        print(row, flush=True)
    if not gsm8k:
        print(f"(GSM8K skipped: no file at {DEFAULT_GSM8K}; pass --gsm8k path/to/train.jsonl)")

    threads = {"OMP_NUM_THREADS": str(args.threads)} if args.threads else {}
    paths = [("project", "project", [], threads), ("bare", "bare", [], threads)]
    paths += [(name, "project", flags, {**threads, **env}) for name, flags, env in variants]
    results: dict[str, list[dict]] = {label: [] for label, *_ in paths}
    print(f"\nTraining: {args.steps} steps per run, first {args.warmup} left out, {args.reps} runs per path, "
          f"interleaved; torch threads: {args.threads or 'default'}" + (f"; extra flags: {args.args}" if args.args else ""),
          flush=True)
    for rep in range(args.reps):
        for label, path, flags, env in paths:
            started = time.time()
            result = run_once(f"{label}-{rep}", path, common + flags, env, out)
            results[label].append(summarise(result, args.warmup))
            print(f"  run {rep + 1}/{args.reps} {label}: {results[label][-1]['median_s']:.3f} s/step "
                  f"({time.time() - started:.0f} s in all)", flush=True)

    report = training_report(results, variants)
    print("\n" + report)
    (out / "summary.json").write_text(json.dumps(results, indent=2))
    return 0



def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
