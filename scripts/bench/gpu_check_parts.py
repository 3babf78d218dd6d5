"""The parts of `make gpu-check` (scripts/bench/gpu_check.py), each run in its own child process with a time cap.

A recipe part trains 2 GRPO steps of ``python -m scripts.train`` on a random model of the recipe's
shape and compares the peak GPU memory with the estimate ``make preflight`` makes for the same
command; the decode part runs ``make bench-gpu``; the demo part runs the CPU demo recipe on the
GPU. Each returns a row for the report (scripts/bench/gpu_check_report.py); a crash or an OOM is a result.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts.bench.model_shapes import build_random_model, shape_for_model
from scripts.bench.synthetic_data import tokenizer_texts
from scripts.lib.recipe.cli import first_line
from scripts.lib.recipe.yaml_file import load_recipe_yaml

ROOT = Path(__file__).resolve().parents[2]
DEMO_RECIPE = "recipes/cpu_countdown_tiny.yaml"
# A step line of scripts.lib.training.console_log.ConsoleLog: "step 1/2 | reward 0.1 | ... | len 786 | ... | s/step 23.45"
STEP_LINE = re.compile(r"^step (\d+)/(\d+) \|.*")
MIN_PART_S = 30  # a part that would start with less time than this is skipped


# --------------------------------------------------------------------------- the training process


def worker(result_path: str, train_argv: list[str]) -> int:
    """Run ``scripts.train`` in this process, as a user would, and record what only this process can
    see: the estimate ``make preflight`` makes for the same command, and the peak GPU memory
    (written every second, so a run stopped at its cap still reports it)."""
    import runpy
    import threading
    import traceback

    import torch

    result: dict = {}
    out = Path(result_path)

    def dump():
        out.write_text(json.dumps(result, indent=2, default=str))

    try:
        result.update(preflight_estimate(train_argv))
    except Exception as err:  # the run below reports the same problem in full
        result["estimate_error"] = f"{type(err).__name__}: {first_line(err)}"
    dump()
    cuda = torch.cuda.is_available()
    done = threading.Event()

    def record_peak():
        while not done.wait(1.0):
            result["peak_bytes"] = torch.cuda.max_memory_allocated()
            dump()

    if cuda:
        torch.cuda.reset_peak_memory_stats()
        threading.Thread(target=record_peak, daemon=True).start()
    sys.argv = ["scripts.train", *train_argv]
    try:
        runpy.run_module("scripts.train", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException as err:  # noqa: BLE001 - an OOM or crash is a result here
        traceback.print_exc()
        result["error"] = f"{type(err).__name__}: {first_line(err)}"
        code = 1
    done.set()
    result["peak_bytes"] = torch.cuda.max_memory_allocated() if cuda else None
    result["returncode"] = code
    dump()
    return code


def preflight_estimate(train_argv: list[str]) -> dict:
    """The resources check of ``make preflight`` for this exact command line (no model weights loaded)."""
    from rewards import get_rewards
    from scripts.lib.recipe.parsing import parse_recipe
    from scripts.lib.models.loading import load_config_and_tokenizer
    from scripts.lib.preflight.checks import run_checks

    script_args, training_args, model_args = parse_recipe(list(train_argv))
    model_config, tokenizer = load_config_and_tokenizer(model_args, training_args)
    train_rows, holdout_rows, skipped = script_args.build_dataset(training_args.seed)
    rewards = get_rewards(script_args.reward_names(), script_args.reward_settings())
    report = run_checks(script_args, training_args, model_args, tokenizer, model_config, train_rows, holdout_rows,
                        skipped, rewards)
    resources, data = report.section("resources"), report.section("data")
    return {"estimate_bytes": resources.counts["estimate_bytes"], "parameters": resources.counts["parameters"],
            "trainable": resources.counts["trainable"], "estimate": resources.summary,
            "longest_prompt_tokens": data.counts.get("longest_prompt_tokens"),
            "generation_batch": training_args.generation_batch_size,
            "max_completion_length": training_args.max_completion_length}


# --------------------------------------------------------------------------- running one part


def run_part(name: str, command: list[str], timeout: float, log, env: dict) -> tuple[int | str, str, float]:
    """(exit code, or 'timeout'; its output; seconds) of one child process, stopped at ``timeout``."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
        code: int | str = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        code = "timeout"
    seconds = time.perf_counter() - start
    log.write(f"\n===== {name}: {shlex_join(command)}\n{output}\n===== {name}: exit {code} after {seconds:.0f} s\n")
    log.flush()
    return code, output, seconds


def shlex_join(command: list[str]) -> str:
    return shlex.join(str(c) for c in command)


def step_lines(output: str) -> list[dict]:
    """The per-step lines ``scripts.train`` prints, as numbers.

    >>> step_lines("x\\nstep 1/2 | reward 0.10 | len 786 | s/step 23.45\\nstep 2/2 | len 780 | s/step 20.00")
    [{'step': 1, 'len': 786.0, 's/step': 23.45}, {'step': 2, 'len': 780.0, 's/step': 20.0}]
    """
    steps = []
    for line in output.splitlines():
        match = STEP_LINE.match(line.strip())
        if match:
            fields = dict(part.strip().rsplit(" ", 1) for part in line.split("|")[1:] if " " in part.strip())
            steps.append({"step": int(match.group(1)),
                          **{k: float(fields[k]) for k in ("len", "s/step") if k in fields}})
    return steps


def failure(code, output: str, result: dict) -> str | None:
    """None for a clean run, else what went wrong in a few words."""
    if code == 0:
        return None
    if code == "timeout":
        return "stopped at its time cap"
    text = result.get("error") or next((line for line in reversed(output.splitlines()) if line.strip()), "")
    if "OutOfMemoryError" in text or "CUDA out of memory" in output:
        return "out of GPU memory"
    return f"exit {code}: {text.strip()[:200]}"


# --------------------------------------------------------------------------- the check


def gpu_recipes(only: list[str] | None) -> list[Path]:
    paths = [p for p in sorted((ROOT / "recipes").glob("*.yaml")) if not load_recipe_yaml(str(p)).get("use_cpu")]
    return [p for p in paths if not only or p.stem in only]


def recipe_argv(path: Path, model_dir: Path, data: str, out: Path, args) -> list[str]:
    argv = ["--config", str(path.relative_to(ROOT)), "--model_name_or_path", str(model_dir), "--dataset_name", data,
            "--dataset_train_split", "train", "--dataset_test_split", "test", "--max_train_samples", "1024",
            "--use_vllm", "false", "--max_steps", str(args.steps), "--holdout_size", "0", "--output_dir", str(out),
            "--resume", "never", "--save_strategy", "no", "--report_to", "none", "--logging_steps", "1",
            "--log_samples_every", "0", "--disable_tqdm", "true"]
    if args.dry_run:  # tiny and on the CPU, every other setting as the recipe has it
        argv += ["--bf16", "false", "--use_cpu", "true", "--dtype", "float32", "--num_generations", "2",
                 "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1", "--steps_per_generation", "1",
                 "--max_completion_length", "8"]
    return argv


def check_recipe(path: Path, args, work: Path, models: dict, log, env, timeout: float) -> dict:
    recipe = load_recipe_yaml(str(path))
    model_id = recipe.get("model_name_or_path", "")
    shape = "tiny" if args.dry_run else shape_for_model(model_id)
    row = {"recipe": path.stem, "model": model_id, "shape": shape}
    if shape is None:
        return {**row, "status": f"skipped: no shape for {model_id} in scripts/bench/model_shapes.py"}
    chat = recipe.get("prompt_template") == "chat"
    key = (shape, chat)
    if key not in models:
        for old in models.values():  # one model on disk at a time (the 3B is 6 GB in bf16)
            shutil.rmtree(old, ignore_errors=True)
        models.clear()
        models[key] = build_model(shape, work / "models" / f"{shape}{'-chat' if chat else ''}", chat, work, args)
    data = args.datasets[recipe.get("task", "countdown")]
    run_dir = work / "runs" / path.stem
    shutil.rmtree(run_dir, ignore_errors=True)
    result_path = work / f"{path.stem}.json"
    argv = recipe_argv(path, models[key], data, run_dir, args)
    command = [sys.executable, "-m", "scripts.bench.gpu_check", "--worker", str(result_path), "--", *argv]
    code, output, seconds = run_part(path.stem, command, timeout, log, env)
    result = json.loads(result_path.read_text()) if result_path.is_file() else {}
    steps = step_lines(output)
    row.update(wall_s=round(seconds, 1), steps=steps, cap_s=round(timeout), command="python -m scripts.train "
               + shlex_join(argv), **{k: v for k, v in result.items() if k != "returncode"})
    shutil.rmtree(run_dir, ignore_errors=True)  # the final save of a full 3B run is 6 GB
    row["status"] = failure(code, output, result) or "ok"
    if code == "timeout" and len(steps) >= args.steps:
        row["status"] = "ok (every step done; stopped at its cap in the final save)"
    timed = [s for s in steps if "s/step" in s]
    if timed:
        last = timed[-1]  # the last step: the first one also compiles kernels and fills caches
        row["s_per_step"], row["timed_step"] = last["s/step"], last["step"]
        if result.get("generation_batch") and "len" in last:
            row["gen_tokens_per_s"] = round(result["generation_batch"] * last["len"] / last["s/step"], 1)
    if result.get("peak_bytes") and result.get("estimate_bytes"):
        row["peak_over_estimate"] = round(result["peak_bytes"] / result["estimate_bytes"], 2)
    return row


def build_model(shape: str, out: Path, chat: bool, work: Path, args) -> Path:
    import torch

    dtype = torch.float32 if args.dry_run else torch.bfloat16
    device = "cuda" if torch.cuda.is_available() and not args.dry_run else "cpu"  # random init of 3B: seconds on a GPU
    build_random_model(shape, out, texts=tokenizer_texts(work / "data" / "gsm8k"), chat=chat, dtype=dtype,
                       device=device)
    if device == "cuda":
        torch.cuda.empty_cache()
    return out


def check_decode(args, work: Path, log, env, timeout: float) -> dict:
    out = work / "bench_gpu.json"
    command = [sys.executable, "-m", "scripts.bench.gpu", "--json", str(out)] + (["--tiny"] if args.dry_run else [])
    code, output, seconds = run_part("decode", command, timeout, log, env)
    row = {"command": "python -m scripts.bench.gpu " + shlex_join(command[3:]), "wall_s": round(seconds, 1),
           "status": failure(code, output, {}) or "ok"}
    if not out.is_file():
        return row
    return {**row, **bench_summary(json.loads(out.read_text()), args.hbm_tb_s)}


def bench_summary(bench: dict, hbm_tb_s: float) -> dict:
    """bench_gpu's JSON with decode as a share of the bandwidth bound: every decode step reads all
    weights once, so at most ``hbm_tb_s`` / weight bytes steps/s, each giving ``decode_batch`` tokens.

    >>> bench = {"settings": {"shape": "qwen2.5-0.5b"}, "results": [{"step_s": 9.0}],
    ...          "decode": {"decode_tokens_per_s": 2400.0, "decode_batch": 64, "weight_bytes": 988_000_000}}
    >>> s = bench_summary(bench, 4.8); s["bound_tokens_per_s"], s["share_of_bound"]
    (310931, 0.0077)
    """
    row = {"shape": bench["settings"]["shape"], "grpo_step": bench["results"][0], "decode": bench.get("decode")}
    decode = bench.get("decode")
    if decode:
        bound = hbm_tb_s * 1e12 / decode["weight_bytes"] * decode["decode_batch"]
        row.update(bound_tokens_per_s=round(bound), share_of_bound=round(decode["decode_tokens_per_s"] / bound, 4))
    return row


def check_demo(args, work: Path, log, env, deadline: float) -> dict:
    out = work / "runs" / "demo"
    shutil.rmtree(out, ignore_errors=True)
    argv = ["--config", DEMO_RECIPE, "--use_cpu", str(args.dry_run).lower(), "--output_dir", str(out), "--resume", "never",
            "--report_to", "none", "--disable_tqdm", "true"]
    row: dict = {}
    if args.dry_run:  # a random tiny model and a few tokens: the base build and the full run cost minutes
        model = build_random_model("tiny", work / "models" / "demo-tiny")
        argv += ["--model_name_or_path", str(model), "--tiny_base_recipe", "", "--max_steps",
                 "2", "--holdout_size", "4", "--max_train_samples", "32", "--per_device_train_batch_size", "4",
                 "--num_generations", "2", "--max_completion_length", "8", "--save_strategy", "no"]
    else:  # the base first, timed apart: `make train` builds it once and caches it in outputs/tiny-base/
        build = [sys.executable, "-m", "scripts.build_tiny_base", "--config", DEMO_RECIPE]
        code, output, seconds = run_part("demo base", build, max(deadline - time.monotonic(), 1), log, env)
        row.update(base_build_s=round(seconds, 1), base_cached="cached at" in output)
        if code != 0:
            return {**row, "status": "tiny base build: " + failure(code, output, {})}
    result_path = work / "demo.json"
    command = [sys.executable, "-m", "scripts.bench.gpu_check", "--worker", str(result_path), "--", *argv]
    code, output, seconds = run_part("demo", command, max(deadline - time.monotonic(), 1), log, env)
    result = json.loads(result_path.read_text()) if result_path.is_file() else {}
    lines = output.splitlines()
    table = [line for line in lines if line.startswith("|")]  # the held-out before/after table
    timed = [s["s/step"] for s in step_lines(output) if "s/step" in s]
    row.update(command="python -m scripts.train " + shlex_join(argv), wall_s=round(seconds, 1),
               steps_done=len(step_lines(output)), peak_bytes=result.get("peak_bytes"),
               median_s_per_step=sorted(timed)[len(timed) // 2] if timed else None,
               table=table, status=failure(code, output, result) or "ok")
    return row



def check_recipes(recipes: list[Path], args, work: Path, log, env, deadline: float, reserve: float) -> tuple[list, list]:
    """(rows, skipped notes): each recipe gets a fair share of what is left of the budget, at most
    ``--recipe-cap``, keeping ``reserve`` seconds for the parts after it."""
    rows, skipped, models = [], [], {}
    for i, path in enumerate(recipes):
        time_left = deadline - time.monotonic()
        if time_left < MIN_PART_S:
            skipped.append(f"{path.stem}: the budget was spent ({args.budget:.0f} s)")
            continue
        print(f"gpu-check: {path.stem} ...", flush=True)
        # A fair share of what is left (time a fast recipe leaves passes on), at most --recipe-cap.
        share = max((time_left - reserve) / (len(recipes) - i), MIN_PART_S)
        row = check_recipe(path, args, work, models, log, env, min(args.recipe_cap, share, time_left))
        print(f"gpu-check: {path.stem}: {row['status']}", flush=True)
        rows.append(row)
    return rows, skipped


def child_env(dry_run: bool) -> dict:
    """The environment of every part: this checkout importable, offline, unbuffered; no GPU in a dry run."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    if dry_run:
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def run_parts(wanted: set[str], args, work: Path, log, env: dict, deadline: float) -> dict:
    """The recipes, then decode, then the demo (only the ``wanted`` ones, if any), each within what is
    left of the budget: {"recipes": rows, "decode": row, "demo": row, "skipped": notes}."""
    parts: dict = {"skipped": []}
    recipes = gpu_recipes([w for w in wanted if w not in ("decode", "demo")] or None) \
        if not wanted or wanted - {"decode", "demo"} else []
    if recipes:
        reserve = args.decode_cap if not wanted or "decode" in wanted else 0
        parts["recipes"], skipped = check_recipes(recipes, args, work, log, env, deadline, reserve)
        parts["skipped"] += skipped
    for part in ("decode", "demo"):
        if wanted and part not in wanted:
            continue
        time_left = deadline - time.monotonic()
        if time_left < MIN_PART_S:
            parts["skipped"].append(f"{part}: the budget was spent ({args.budget:.0f} s; run it alone with "
                                    f"--only {part})")
            continue
        print(f"gpu-check: {part} ...", flush=True)
        if part == "decode":
            parts[part] = check_decode(args, work, log, env, min(args.decode_cap, time_left))
        else:
            parts[part] = check_demo(args, work, log, env, deadline)
        print(f"gpu-check: {part}: {parts[part]['status']}", flush=True)
    return parts
