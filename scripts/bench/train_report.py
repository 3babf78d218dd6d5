"""`make bench-train`'s tables: the data path timed against its targets, the machine it ran on, and
the project-vs-bare comparison of step times with scripts/bench/train_timing.py's breakdown."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

from scripts.bench.train_timing import mean_breakdown

DATA_TARGETS = {"gsm8k": 3.0, "countdown": 10.0}
RATIO_TARGET = 1.05


def time_call(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def data_path_rows(gsm8k: str | None, countdown_n: int, countdown_recipe: dict) -> list[str]:
    from data import generate_countdown, load_gsm8k

    rows = []
    if gsm8k:
        (prompts, skipped), wall, cpu = time_call(lambda: load_gsm8k(gsm8k, template="r1_zero"))
        rows.append(_data_row(f"GSM8K train preprocessing ({len(prompts) + skipped:,} rows -> {len(prompts):,} "
                              f"prompts, {skipped} skipped)", wall, cpu, DATA_TARGETS["gsm8k"]))
    for label, settings in (("generator defaults: 3-4 numbers 1-99, + - * /", {}),
                            ("the recipe's settings", countdown_recipe)):
        made, wall, cpu = time_call(lambda: generate_countdown(countdown_n, seed=0, **settings))
        rows.append(_data_row(f"Countdown: {len(made):,} problems ({label})", wall, cpu, DATA_TARGETS["countdown"]))
    return rows


def _data_row(label: str, wall: float, cpu: float, target: float) -> str:
    # Judged on CPU time: this code is single-threaded, so on an idle core wall time equals it; on
    # a shared machine the wall time mostly measures the other processes.
    return f"| {label} | {wall:.2f} | {cpu:.2f} | < {target:g} s | {'met' if cpu < target else 'MISSED'} |"

def machine_line() -> str:
    import torch
    import transformers
    import trl

    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    cpu = platform.processor()
    if Path("/proc/cpuinfo").is_file():
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs ({cpu or 'unknown CPU'}), "
            f"python {platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"trl {trl.__version__}, transformers {transformers.__version__}; load average {load}")

def _pooled(runs: list[dict], key: str) -> float:
    return statistics.median(x for run in runs for x in run[key])


def training_report(results: dict[str, list[dict]], variants) -> str:
    lines = ["| path | s/step (median) | CPU s/step (median) | completion tokens/s | completion length | "
             "peak RSS (MiB) | start-up s |", "|---|---|---|---|---|---|---|"]
    names = {"project": "project: scripts.train (make train)", "bare": "bare TRL: GRPOTrainer script"}
    for label, runs in results.items():
        lines.append(f"| {names.get(label, 'variant ' + label)} | {_pooled(runs, 'step_s'):.3f} | "
                     f"{_pooled(runs, 'cpu_s'):.3f} | {statistics.median(r['tokens_per_s'] for r in runs):,.0f} | "
                     f"{statistics.median(r['mean_length'] for r in runs):.1f} | "
                     f"{max(r['peak_rss_mib'] for r in runs):,.0f} | "
                     f"{statistics.median(r['startup_s'] for r in runs):.1f} |")
    project, bare = results["project"], results["bare"]
    lines.append("")
    for key, what in (("step_s", "wall"), ("cpu_s", "CPU")):
        # Each pair's ratio compares total time over the same steps: both runs train on the same
        # completions, so that is like for like (a median could pick different steps once noise
        # reorders them). Judged on the median over pairs: the two runs of a pair saw the same
        # machine, and one pair hit by another process's burst cannot decide it (with >= 3 reps).
        pairs = [statistics.fmean(p[key]) / statistics.fmean(b[key]) for p, b in zip(project, bare)]
        ratio = statistics.median(pairs)
        lines.append(f"ratio project/bare, {what} time per step: {ratio:.3f} (median over interleaved pairs, each the "
                     "ratio of mean step times: "
                     + ", ".join(f"{r:.3f}" for r in pairs) + f"; ratio of pooled medians "
                     f"{_pooled(project, key) / _pooled(bare, key):.3f}) -> target <= {RATIO_TARGET}: "
                     + ("met" if ratio <= RATIO_TARGET else "MISSED"))
    # The same direct cost without the noise of two processes' step times: time spent in the
    # callbacks only the kit registers, and in the reward functions (the kit's code in both paths).
    mine = mean_breakdown(project)
    kit = {name: s for name, s in mine.items()
           if name.startswith("callback: ") and name not in mean_breakdown(bare)}
    rewards = sum(s for name, s in mine.items() if name.startswith("reward: "))
    lines.append(f"kit-only callbacks ({', '.join(n[len('callback: '):] for n in kit) or 'none'}): "
                 f"{sum(kit.values()):.4f} s/step = {100 * sum(kit.values()) / mine['total step']:.2f} % of the "
                 f"project's step; reward functions: {100 * rewards / mine['total step']:.2f} %")
    same = all(p["all_lengths"] == b["all_lengths"] for p, b in zip(project, bare))
    lines.append("same completions in both paths (equal mean length at every step): " + ("yes" if same else
                 "NO (the paths sampled differently; compare tokens/s rather than s/step)"))
    if variants:
        lines += ["", "Options, through the project path (ratio < 1: faster than the recipe as is)", "",
                  "| variant | flags | s/step | CPU s/step | tokens/s | completion length | ratio s/step | "
                  "ratio CPU s/step | ratio tokens/s |", "|---|---|---|---|---|---|---|---|---|"]
        base = {key: _pooled(project, key) for key in ("step_s", "cpu_s")}
        base_tok = statistics.median(r["tokens_per_s"] for r in project)
        for name, flags, env in variants:
            runs = results[name]
            step, cpu = _pooled(runs, "step_s"), _pooled(runs, "cpu_s")
            tok = statistics.median(r["tokens_per_s"] for r in runs)
            length = statistics.median(r["mean_length"] for r in runs)
            shown = " ".join([*(f"{k}={v}" for k, v in env.items()), *flags])
            lines.append(f"| {name} | `{shown}` | {step:.3f} | {cpu:.3f} | {tok:,.0f} | {length:.1f} | "
                         f"{step / base['step_s']:.3f} | {cpu / base['cpu_s']:.3f} | {tok / base_tok:.3f} |")
    lines += ["", "Where a step goes (seconds per timed step: mean over a run's steps, median over runs; TRL's "
              "profiling timers)", "",
              "| part | project | bare |", "|---|---|---|"]
    tables = {label: mean_breakdown(results[label]) for label in ("project", "bare")}
    names = list(dict.fromkeys(name for table in tables.values() for name in table))
    # Callbacks together (both paths' sets), then logging, the rest and the total.
    first_after = names.index("logging (TRL metrics, completions table)")
    order = ([n for n in names[:first_after] if not n.startswith("callback: ")]
             + sorted(n for n in names if n.startswith("callback: "))
             + [n for n in names[first_after:] if not n.startswith("callback: ")])
    for name in order:
        cells = []
        for label in ("project", "bare"):
            table = tables[label]
            total = table["total step"]
            cells.append(f"{table[name]:.4f} ({100 * table[name] / total:.1f} %)" if name in table else "-")
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)

