"""`make bench-aha`: does the CPU default recipe show the R1-Zero dynamics, above seed noise?

Runs the recipe end to end (tiny base build + GRPO + held-out before/after) once per seed (each seed's
base built once into ``<out>/base-seed<N>`` and reused on a rerun; the GRPO run from scratch), times it, and prints every seed's held-out numbers, the medians and the targets:

    python -m scripts.bench.aha                                  # seeds 42 0 1 of recipes/cpu_countdown_tiny.yaml
    python -m scripts.bench.aha --seeds 0 --args "--max_steps 20"   # one quick look

Targets (issue #23, "Done when"), on 512 held-out prompts at T=1:

* medians: self-check share >= 2x the base's and >= 0.30 after; honest checks >= 0.95 after (and
  not lower than before on any seed); wrong->right rate >= 3x the base's; mean length >= 1.5x the
  base's; format <= 0.3 -> >= 0.9; accuracy >= 4x;
* every seed: accuracy >= 3x its base; the final ``ok`` of a search true in >= 70 % of the searches
  that stop on one; self-checking completions (a ``reflection_phrases`` word) more accurate than the
  rest after training; an aha step (``scripts/lib/measure/aha.py``, which for Countdown also needs a rising
  wrong->right rate) after the format is learned; wall time <= 10 min (the base build included on a
  fresh ``--out`` only).

A missed target is printed as MISSED, never hidden, and the command exits 1 (0 only when every
target is met). The table and targets are also written to
``<out>/RESULTS.md``, whose path is printed last (copy it into the kit's RESULTS.md with the machine).
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

from scripts.bench.common import print_targets
from scripts.lib.measure.aha import format_learned_step
from scripts.lib.recipe.cli import ArgumentParser, run_cli
from scripts.lib.runs.run_files import RunError, load_history, run_info

# (held_out.json key, column label): before -> after per seed.
KEYS = [("format", "format"), ("accuracy", "accuracy"), ("self_check", "self-check share"),
        ("honest_checks", "honest checks"), ("final_ok_true", "final ok true"), ("wrong_to_right", "wrong->right"), ("mean_length", "mean length")]
FORMAT_LEARNED = 0.9
# Why the false final oks are false (scripts/lib/measure/stops.py), before -> after per seed.
STOP_KEYS = [("false_ok_comparison", "false ok: unequal numbers"), ("false_ok_arithmetic", "false ok: arithmetic"),
             ("false_ok_other", "false ok: other"), ("true_ok_answer_differs", "true ok, answer differs"),
             ("searches_repeating_a_try", "searches repeating a try")]


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
    info = run_info(out)
    result["aha_step"] = (info.get("aha") or {}).get("step")
    try:
        result["format_learned_step"] = format_learned_step(load_history(out), FORMAT_LEARNED)
    except RunError:
        result["format_learned_step"] = None
    record.write_text(json.dumps(result, indent=2))
    return result


def _num(value) -> float:
    return float("nan") if value is None else float(value)


def _f(value, digits: int = 3) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def seed_row(seed, r: dict) -> str:
    """One markdown row: before -> after per key, accuracy self-checking vs rest after, aha step, wall."""
    cells = [f"{_f(_num(r['before'].get(k)))} -> {_f(_num(r['after'].get(k)))}" for k, _ in KEYS]
    a = r["after"]
    aha = r.get("aha_step")
    learned = r.get("format_learned_step")
    return (f"| {seed} | " + " | ".join(cells) + f" | {_f(_num(a.get('accuracy_self_checking')))} vs "
            f"{_f(_num(a.get('accuracy_rest')))} | {aha if aha is not None else 'none'}"
            f" (format at {learned if learned is not None else '-'}) | {r['wall_s'] / 60:.1f} |")


def table(results: dict) -> str:
    header = ("| seed | " + " | ".join(f"{label} before -> after" for _, label in KEYS)
              + " | accuracy self-checking vs rest, after | aha step | wall (min) |")
    lines = [header, "|---|" + "---|" * (len(KEYS) + 3)]
    lines += [seed_row(seed, r) for seed, r in results.items()]
    med = {side: {k: statistics.median(_num(r[side].get(k)) for r in results.values()) for k, _ in KEYS}
           for side in ("before", "after")}
    wall = statistics.median(r["wall_s"] for r in results.values())
    lines.append("| median | " + " | ".join(f"{_f(med['before'][k])} -> {_f(med['after'][k])}" for k, _ in KEYS)
                 + f" | | | {wall / 60:.1f} |")
    return "\n".join(lines)


def stops_table(results: dict) -> str:
    """Per seed, before -> after: how many searches stop on ok, and why the false oks are false."""
    def count(side):
        n = side.get("searches_stopping_on_ok")
        return "-" if n is None else str(int(n))

    lines = ["| seed | searches stopping on ok | final ok true | " + " | ".join(label for _, label in STOP_KEYS) + " |",
             "|---|" + "---|" * (len(STOP_KEYS) + 2)]
    for seed, r in results.items():
        b, a = r["before"], r["after"]
        lines.append(f"| {seed} | {count(b)} -> {count(a)} | "
                     + " | ".join(f"{_f(_num(b.get(k)))} -> {_f(_num(a.get(k)))}"
                                  for k in ["final_ok_true", *(k for k, _ in STOP_KEYS)]) + " |")
    return "\n".join(lines)


def targets(results: dict, wall_limit: float) -> list[tuple[str, bool, str]]:
    """Issue #23's targets: the medians, then every seed (NaN never meets a target)."""
    def med(side, key):
        return statistics.median(_num(r[side].get(key)) for r in results.values())

    b = {k: med("before", k) for k, _ in KEYS}
    a = {k: med("after", k) for k, _ in KEYS}
    seeds = list(results.items())

    def every(test) -> bool:
        return all(test(r) for _, r in seeds)

    def per_seed(fmt) -> str:
        return ", ".join(f"seed {s}: {fmt(r)}" for s, r in seeds)

    def aha_after_format(r) -> bool:
        aha, learned = r.get("aha_step"), r.get("format_learned_step")
        return aha is not None and learned is not None and aha >= learned

    return [
        ("median format <= 0.3 before, >= 0.9 after", b["format"] <= 0.3 and a["format"] >= 0.9,
         f"{_f(b['format'])} -> {_f(a['format'])}"),
        ("median self-check share >= 2x the base's and >= 0.30 after",
         a["self_check"] >= 2 * b["self_check"] and a["self_check"] >= 0.30, f"{_f(b['self_check'])} -> {_f(a['self_check'])}"),
        ("honest checks after >= before on every seed, median >= 0.95 after",
         every(lambda r: _num(r["after"].get("honest_checks")) >= _num(r["before"].get("honest_checks")))
         and a["honest_checks"] >= 0.95,
         per_seed(lambda r: f"{_f(_num(r['before'].get('honest_checks')))} -> {_f(_num(r['after'].get('honest_checks')))}")),
        ("every seed: final ok true in >= 70 % of searches that stop on one, after",
         every(lambda r: _num(r["after"].get("final_ok_true")) >= 0.70),
         per_seed(lambda r: _f(_num(r["after"].get("final_ok_true"))))),
        ("median wrong->right >= 3x the base's", a["wrong_to_right"] >= 3 * b["wrong_to_right"] and a["wrong_to_right"] > 0,
         f"{_f(b['wrong_to_right'])} -> {_f(a['wrong_to_right'])}"),
        ("median mean length >= 1.5x the base's", a["mean_length"] >= 1.5 * b["mean_length"],
         f"{_f(b['mean_length'], 1)} -> {_f(a['mean_length'], 1)} tokens"),
        ("every seed: accuracy >= 3x its base, median >= 4x",
         every(lambda r: _num(r["after"].get("accuracy")) >= 3 * _num(r["before"].get("accuracy")))
         and statistics.median(_num(r["after"].get("accuracy")) / _num(r["before"].get("accuracy")) for _, r in seeds) >= 4,
         per_seed(lambda r: f"{_f(_num(r['before'].get('accuracy')))} -> {_f(_num(r['after'].get('accuracy')))}")),
        ("every seed: self-checking more accurate than the rest after",
         every(lambda r: _num(r["after"].get("accuracy_self_checking")) > _num(r["after"].get("accuracy_rest"))),
         per_seed(lambda r: f"{_f(_num(r['after'].get('accuracy_self_checking')))} vs {_f(_num(r['after'].get('accuracy_rest')))}")),
        ("every seed: an aha step, after the format is learned", every(aha_after_format),
         per_seed(lambda r: f"aha {r.get('aha_step')}, format learned {r.get('format_learned_step')}")),
        (f"every seed: wall time <= {wall_limit / 60:.0f} min", every(lambda r: r["wall_s"] <= wall_limit),
         per_seed(lambda r: f"{r['wall_s'] / 60:.1f} min")),
    ]


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="recipes/cpu_countdown_tiny.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 0, 1],
                        help="training seeds (default: the recipes' shipped seed 42 and two more)")
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
            f"{k} {_f(_num(r['before'].get(k)))}->{_f(_num(r['after'].get(k)))}" for k, _ in KEYS))

    text = table(results) + "\n\nWhy the final oks are false (shares of the false ones; scripts/lib/measure/stops.py):\n\n" \
        + stops_table(results)
    print("\n" + text)
    checks = targets(results, args.wall_limit_min * 60)
    print("\nTargets (issue #23):")
    all_met = print_targets(checks)
    seed0 = next(iter(results))
    example = results[seed0]
    print(f"\nexample (seed {seed0}), prompt: {example['prompt']}")
    print(f"  before: {example['example_before']}\n  after:  {example['example_after']}")
    (root / "summary.json").write_text(json.dumps({"seeds": results}, indent=2, default=str))
    report = root / "RESULTS.md"
    report.write_text(f"# make bench-aha: {args.recipe}, seeds {' '.join(map(str, args.seeds))}"
                      f"{', extra flags ' + args.args if args.args else ''}\n\n{text}\n\n## Targets (issue #23)\n\n"
                      + "\n".join(f"- {'met' if met else 'MISSED'}: {label}: {value}" for label, met, value in checks)
                      + f"\n\nexample (seed {seed0}), prompt: `{example['prompt']}`\n\n- before: "
                      f"`{example['example_before']}`\n- after: `{example['example_after']}`\n")
    missed = sum(not met for _, met, _ in checks)
    if missed:
        print(f"\n{missed} of {len(checks)} targets MISSED (exit 1)")
    print(f"\nresults: {report}")
    return 0 if all_met else 1


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
