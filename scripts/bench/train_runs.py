"""One `make bench-train` run: a fresh ``python -m scripts.bench.train --worker`` process that trains
the recipe either through the kit (``scripts.train`` as `make train` runs it) or through a bare
``GRPOTrainer`` script, with scripts/bench/train_timing.py's timers on, and writes what they saw."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from scripts.bench.train_timing import Timings, instrument
from scripts.lib.recipe.parsing import parse_dataclass_yaml, parse_recipe
from scripts.lib.models.loading import load_tokenizer

CACHED_BASE = "outputs/tiny-base/countdown"


def _run_project(argv: list[str]) -> int:
    # The entry point as `python -m scripts.train` runs it, in this process (so train_timing.instrument's
    # StepClock, patched into GRPOTrainer, sees its trainer): executed as a script, never imported as a library.
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
    timings = Timings()
    instrument(timings)
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
    from scripts.lib.models.tiny_base.build import ensure_tiny_base
    from scripts.lib.models.tiny_base.task import tiny_base_plan

    plan = tiny_base_plan(*parse_recipe(["--config", recipe]))
    # The recipe's architecture, untrained: the same compute per token, no minutes of pretraining.
    base = replace(plan.config, steps=0, corpus_size=2000)
    target = out / "tiny-model"
    ensure_tiny_base(target, base, plan.task, progress=False, on_build=lambda: print(
        f"no cached base at {CACHED_BASE}: building an untrained model of the recipe's shape in {target}"))
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
        proc = subprocess.run([sys.executable, "-m", "scripts.bench.train", "--worker", str(run_dir / "spec.json")],
                              stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env})
    if proc.returncode != 0 or not (run_dir / "result.json").is_file():
        tail = (run_dir / "log.txt").read_text()[-2000:]
        raise SystemExit(f"{tail}\nerror: run {label} failed (exit {proc.returncode}); full log: {run_dir / 'log.txt'}")
    return json.loads((run_dir / "result.json").read_text())

