"""`make bench-train`: where a GRPO step's time goes, and what the kit adds over bare TRL.

The same recipe (default: recipes/cpu_countdown_tiny.yaml, shortened to a few steps) is trained
on a local tiny model two ways, each in a fresh process, several times, interleaved
(kit, bare, kit, bare, ...) so that machine noise hits both alike:

* **project**: ``scripts.train`` exactly as ``make train`` runs it (recipe parsing, data path,
  rewards registry, AhaTracker and the other callbacks);
* **bare**: a minimal ``GRPOTrainer`` script with the same model, data rows, reward functions and
  ``GRPOConfig``, and none of the kit's callbacks.

It prints the median seconds per step (the first steps excluded as warm-up), completion tokens/s,
peak RSS and the ratio project/bare (target <= 1.05); then one step taken apart (generation,
each reward, log-probs, loss, backward, each callback, logging, optimizer) from TRL's own
``profiling_context`` timers plus timers on ``training_step``, ``log`` and every callback event;
then the data path: the GSM8K train split preprocessed and 100,000 Countdown problems generated
(targets < 3 s and < 10 s).

    python -m scripts.bench_train                                    # what `make bench-train` runs
    python -m scripts.bench_train --reps 1 --steps 2 --warmup 0      # a smoke test
    python -m scripts.bench_train --variant threads1="OMP_NUM_THREADS=1" \\
        --variant eager="--attn_implementation eager"                # options vs the recipe as is

A ``--variant NAME="FLAGS"`` runs the project path with extra recipe flags (and ``VAR=value``
environment settings), interleaved with the others, and is reported as a ratio to the project
row. Timings from a shared machine are noisy: compare ratios measured in the same invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from scripts.lib.cli import ArgumentParser, UserError, run_cli
from scripts.lib.config import parse_dataclass_yaml, parse_recipe
from scripts.lib.models import load_tokenizer

DEFAULT_RECIPE = "recipes/cpu_countdown_tiny.yaml"
CACHED_BASE = "outputs/tiny-base/countdown"
DEFAULT_GSM8K = "../shared/data/gsm8k/train.jsonl"
DATA_TARGETS = {"gsm8k": 3.0, "countdown": 10.0}
RATIO_TARGET = 1.05

# TRL's profiling names that are not reward functions (everything else it times is one).
_TRL_PARTS = {"_prepare_inputs", "_calculate_rewards", "compute_loss", "_get_per_token_logps_and_entropies",
              "transformers.generate", "transformers.generate_batch", "vLLM.generate", "sync_weights",
              "training_step", "log", "_generate_and_score_completions", "_generate", "_generate_single_turn"}
_GENERATION = {"transformers.generate", "transformers.generate_batch", "vLLM.generate"}
_EVENTS = ("on_step_begin", "on_step_end", "on_log", "on_substep_end", "on_pre_optimizer_step", "on_optimizer_step",
           "on_save", "on_evaluate", "on_epoch_begin", "on_epoch_end")


# --------------------------------------------------------------------------- worker (one training run)


class _Timings:
    """Every timed region of a run as (name, start, seconds), attributed to steps afterwards."""

    def __init__(self):
        self.regions: list[tuple[str, float, float]] = []
        self.step_begins: list[float] = []
        self.step_cpu: list[float] = []
        self.logs: list[dict] = []


def _instrument(timings: _Timings) -> None:
    """TRL's profiling timers, plus ``training_step``/``log`` and every callback event, into ``timings``.

    Applied the same way in both paths. TRL's ``ProfilingContext`` only reports to wandb/mlflow/
    trackio; here it also records, so the breakdown uses TRL's own cut of a step.
    """
    from transformers import TrainerCallback
    from trl import GRPOTrainer
    from trl.extras import profiling

    original_log_metrics = profiling.ProfilingContext._log_metrics

    def log_metrics(self, duration):
        timings.regions.append((self.name.split(".", 1)[-1], self._start_time, duration))
        original_log_metrics(self, duration)

    profiling.ProfilingContext._log_metrics = log_metrics
    GRPOTrainer.training_step = profiling.profiling_decorator(GRPOTrainer.training_step)
    GRPOTrainer.log = profiling.profiling_decorator(GRPOTrainer.log)

    class StepClock(TrainerCallback):
        def __init__(self, trainer):
            self.trainer = trainer

        def on_train_begin(self, args, state, control, **kwargs):
            # Callbacks attached after the trainer was built (AhaTracker, ...) are in the list by now.
            for callback in self.trainer.callback_handler.callbacks:
                if callback is not self:
                    for event in _EVENTS:
                        setattr(callback, event, _timed(getattr(callback, event), type(callback).__name__, event))

        def on_step_begin(self, args, state, control, **kwargs):
            timings.step_begins.append(time.perf_counter())
            timings.step_cpu.append(time.process_time())

        def on_log(self, args, state, control, logs=None, **kwargs):
            timings.logs.append(dict(logs or {}, step=state.global_step))

    def _timed(method, owner: str, event: str):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                timings.regions.append((f"callback {owner}.{event}", start, time.perf_counter() - start))
        return timed

    original_init = GRPOTrainer.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.add_callback(StepClock(self))

    GRPOTrainer.__init__ = init


def _run_project(argv: list[str]) -> int:
    # The entry point as `python -m scripts.train` runs it, in this process (so the clock callback
    # above sees its trainer): executed as a script, never imported as a library.
    import runpy

    return runpy.run_module("scripts.train", run_name="bench")["run"](argv)


def _run_bare(argv: list[str]) -> int:
    """Bare TRL: the recipe's GRPOConfig and rows, the same reward functions, no kit callbacks."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, set_seed
    from trl import GRPOTrainer

    from data import build_dataset
    from rewards import get_rewards

    script_args, training_args, model_args = parse_recipe(argv)
    set_seed(training_args.seed)
    rows, _, _ = build_dataset(
        script_args.task, script_args.dataset_name, script_args.dataset_train_split, script_args.dataset_test_split,
        script_args.prompt_template, script_args.system_prompt, script_args.on_bad_row,
        script_args.max_train_samples, script_args.holdout_size, script_args.countdown_settings(),
        seed=training_args.seed, question_style=script_args.countdown_question_style,
    )
    dtype = model_args.dtype if model_args.dtype in (None, "auto") else getattr(torch, model_args.dtype)
    # The kit's loader, not AutoTokenizer: for the tiny model's own tokenizer.json AutoTokenizer builds
    # a different (Qwen2) tokenizer, and the two paths would no longer see the same tokens.
    tokenizer = load_tokenizer(model_args.model_name_or_path)
    model = AutoModelForCausalLM.from_pretrained(model_args.model_name_or_path, dtype=dtype,
                                                 attn_implementation=model_args.attn_implementation)
    trainer = GRPOTrainer(model=model, reward_funcs=get_rewards(script_args.reward_names(),
                                                                script_args.reward_settings()),
                          args=training_args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    trainer.train()
    return 0


def worker(spec_path: str) -> int:
    """One training run in this process; writes its timings next to the spec."""
    started = time.perf_counter()
    spec = json.loads(Path(spec_path).read_text())
    timings = _Timings()
    _instrument(timings)
    code = (_run_bare if spec["path"] == "bare" else _run_project)(spec["argv"])
    import resource

    import torch

    _, training_args, _ = parse_recipe(spec["argv"])
    result = {
        "code": code, "started": started, "regions": timings.regions, "step_begins": timings.step_begins,
        "step_cpu": timings.step_cpu,
        "logs": timings.logs, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch_threads": torch.get_num_threads(),
        "completions_per_step": training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps,
    }
    Path(spec["result"]).write_text(json.dumps(result))
    return code


# --------------------------------------------------------------------------- summarising one run


def summarise(result: dict, warmup: int) -> dict:
    """Median s/step, tokens/s and a per-part breakdown over the timed steps (after ``warmup``)."""
    begins = result["step_begins"]
    intervals = [b - a for a, b in zip(begins, begins[1:])]
    timed = list(range(warmup, len(intervals)))
    if not timed:
        raise SystemExit(f"error: a run made {len(begins)} steps, too few to time {warmup} warm-up steps + 1 "
                         "(raise --steps or lower --warmup)")
    window = (begins[timed[0]], begins[timed[-1] + 1])
    parts: dict[str, float] = {}
    for name, start, seconds in result["regions"]:
        if window[0] <= start < window[1]:
            parts[name] = parts.get(name, 0.0) + seconds
    n = len(timed)
    parts = {name: total / n for name, total in parts.items()}
    step_s = [intervals[i] for i in timed]
    # CPU seconds of this process: on a shared machine much steadier than wall time, which also
    # counts the time other processes held the cores.
    cpu = result["step_cpu"]
    cpu_s = [cpu[i + 1] - cpu[i] for i in timed]
    # TRL logs completion lengths only for steps that generated: their mean times completions/step.
    lengths = [log["completions/mean_length"] for log in result["logs"]
               if "completions/mean_length" in log and warmup < log["step"] <= timed[-1] + 1]
    mean_length = statistics.fmean(lengths) if lengths else float("nan")
    return {
        "step_s": step_s, "median_s": statistics.median(step_s), "cpu_s": cpu_s, "mean_s": statistics.fmean(step_s),
        "tokens_per_s": mean_length * result["completions_per_step"] / statistics.fmean(step_s),
        "mean_length": mean_length, "all_lengths": [log.get("completions/mean_length") for log in result["logs"]
                                                    if "completions/mean_length" in log],
        "peak_rss_mib": result["peak_rss_mib"], "startup_s": begins[0] - result["started"], "parts": parts,
        "torch_threads": result["torch_threads"],
    }


def breakdown(parts: dict[str, float], step: float) -> list[tuple[str, float]]:
    """Non-overlapping rows that add up to the mean step time."""
    def get(name):
        return parts.get(name, 0.0)

    callbacks: dict[str, float] = {}
    on_log = 0.0
    for name, seconds in parts.items():
        if name.startswith("callback "):
            owner, event = name[len("callback "):].rsplit(".", 1)
            callbacks[owner] = callbacks.get(owner, 0.0) + seconds
            on_log += seconds if event == "on_log" else 0.0
    rewards = {name: s for name, s in parts.items() if name not in _TRL_PARTS and not name.startswith("callback ")}
    generation = sum(get(name) for name in _GENERATION)
    rows = [("generation (model.generate)", generation)]
    rows += [(f"reward: {name}", s) for name, s in sorted(rewards.items())]
    rows.append(("reward bookkeeping (TRL _calculate_rewards)", get("_calculate_rewards") - sum(rewards.values())))
    rows.append(("log-probs (old/reference), advantages",
                 get("_prepare_inputs") - generation - get("_calculate_rewards")))
    rows.append(("loss forward (compute_loss)", get("compute_loss")))
    rows.append(("backward", get("training_step") - get("_prepare_inputs") - get("compute_loss")))
    rows += [(f"callback: {owner}", s) for owner, s in sorted(callbacks.items(), key=lambda kv: -kv[1])]
    rows.append(("logging (TRL metrics, completions table)", get("log") - on_log))
    rows.append(("optimizer, grad clip, next batch, rest",
                 step - get("training_step") - get("log") - (sum(callbacks.values()) - on_log)))
    return rows


# --------------------------------------------------------------------------- data path


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


# --------------------------------------------------------------------------- the bench


def resolve_model(model: str | None, recipe: str, out: Path) -> tuple[str, str]:
    """(folder, what it is): ``--model``, else the recipe's cached tiny base, else an untrained one built here."""
    if model:
        return model, model
    if (Path(CACHED_BASE) / "model.safetensors").is_file():
        # A private copy: `make train` rebuilds the cached base when its recipe changes, and both
        # paths must train the same weights.
        target = out / "model"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(CACHED_BASE, target)
        return str(target), f"{CACHED_BASE} (the recipe's cached base, copied to {target})"
    from scripts.lib.models import tiny_base_task
    from scripts.lib.tiny_base import TinyBaseConfig, build_tiny_base, is_built

    script_args, training_args, _ = parse_recipe(["--config", recipe])
    base = parse_dataclass_yaml(script_args.tiny_base_recipe, TinyBaseConfig)
    # The recipe's architecture, untrained: the same compute per token, no minutes of pretraining.
    base.steps, base.corpus_size = 0, 2000
    task = tiny_base_task(script_args, training_args)
    target = out / "tiny-model"
    if not is_built(target, base, task):
        print(f"no cached base at {CACHED_BASE}: building an untrained model of the recipe's shape in {target}")
        build_tiny_base(target, base, task, progress=False)
    return str(target), f"{target} (untrained, the recipe's shape: no cached base at {CACHED_BASE})"


def parse_variant(text: str) -> tuple[str, list[str], dict]:
    name, sep, flags = text.partition("=")
    if not sep or not name:
        raise ValueError(f"--variant {text!r}: write NAME=\"FLAGS\", e.g. threads1=\"OMP_NUM_THREADS=1\"")
    env, argv = {}, []
    for token in shlex.split(flags):
        key, is_env, value = token.partition("=")
        if is_env and not token.startswith("-") and key.isupper():
            env[key] = value
        else:
            argv.append(token)
    return name, argv, env


def run_once(label: str, path: str, argv: list[str], env: dict, out: Path) -> dict:
    run_dir = out / "runs" / label
    if run_dir.exists():
        shutil.rmtree(run_dir)  # the project path would resume from an old checkpoint
    run_dir.mkdir(parents=True)
    spec = {"path": path, "argv": [*argv, "--output_dir", str(run_dir / "output")], "result": str(run_dir / "result.json")}
    (run_dir / "spec.json").write_text(json.dumps(spec))
    with open(run_dir / "log.txt", "w") as log:
        proc = subprocess.run([sys.executable, "-m", "scripts.bench_train", "--worker", str(run_dir / "spec.json")],
                              stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env})
    if proc.returncode != 0 or not (run_dir / "result.json").is_file():
        tail = (run_dir / "log.txt").read_text()[-2000:]
        raise SystemExit(f"{tail}\nerror: run {label} failed (exit {proc.returncode}); full log: {run_dir / 'log.txt'}")
    return json.loads((run_dir / "result.json").read_text())


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
    mine = _mean_breakdown(project)
    kit = {name: s for name, s in mine.items()
           if name.startswith("callback: ") and name not in _mean_breakdown(bare)}
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
    tables = {label: _mean_breakdown(results[label]) for label in ("project", "bare")}
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


def _mean_breakdown(runs: list[dict]) -> dict[str, float]:
    table: dict[str, list[float]] = {}
    for run in runs:
        for name, seconds in breakdown(run["parts"], run["mean_s"]) + [("total step", run["mean_s"])]:
            table.setdefault(name, []).append(seconds)
    # Median over runs: one run hit by another process's burst must not skew the picture.
    return {name: statistics.median(values) for name, values in table.items()}


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
