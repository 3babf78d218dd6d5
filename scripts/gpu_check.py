"""`make gpu-check`: the kit's GPU recipes measured on one GPU, offline, in one markdown report.

    make gpu-check                                   # one GPU, no internet: designed for <= 8 min on one H200
    python -m scripts.gpu_check --dry-run            # CPU, tiny shapes: the same code path, about a minute
    python -m scripts.gpu_check --only qwen2.5-3b_countdown_lora decode --budget 200

Writes ``<out>/report.md`` (path printed), ``report.json`` and ``logs.txt`` (every part's output).

1. **recipes**: every GPU recipe (``recipes/*.yaml`` without ``use_cpu``) at its model's real size:
   the architecture from ``scripts/lib/model_shapes.py`` with random weights and a tokenizer built
   here (ChatML template for the ``chat`` recipes), 2 GRPO steps of ``python -m scripts.train`` with
   the recipe's own settings and these overrides: ``use_vllm false`` (vLLM's wheel is far too large
   to carry to an offline GPU machine), ``max_steps``, ``holdout_size 0``, synthetic local data
   (GSM8K- and MATH-shaped rows; generated Countdown), no checkpoints. Each recipe runs in its own process,
   so its peak memory and any crash are its own. Reported: s/step, generated tokens/s, peak
   ``torch.cuda.max_memory_allocated``, and that peak over the estimate ``make preflight`` prints
   for the same settings (``scripts/lib/preflight.py``'s resources check, here without vLLM).
   Random models almost never emit EOS: every completion runs to ``max_completion_length``, so
   times are worst-case lengths.
2. **decode**: ``make bench-gpu``'s HF path on the Qwen2.5-0.5B shape, and plain ``generate``
   decode tokens/s as a share of the memory-bandwidth bound: each decode step reads every weight
   once, so at most ``--hbm-tb-s`` / weight bytes steps per second, times the batch.
3. **demo**: the CPU demo recipe on the GPU (``--use_cpu false``): the tiny base's build, then
   training, timed apart, and the held-out before/after table.

Each part gets a time cap (``--recipe-cap``, ``--decode-cap``) inside ``--budget``; a part that
would start with too little time left is skipped with a note, one that overruns is stopped and
reported with what it measured. The demo takes what is left, usually too little: run it alone
with ``--only demo`` (about 5 minutes).

On a GPU machine without internet (KINDS.md lists torch 2.11, transformers 5.17, peft, accelerate,
pyarrow there, but not trl, datasets, math-verify), carry these wheels, fetched where pip works:

    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
      --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl \\
      trl==1.16.0 datasets==5.2.0 math-verify==0.9.0 latex2sympy2_extended==1.11.0 \\
      antlr4-python3-runtime==4.13.2 dill==0.4.1 multiprocess==0.70.19

(add transformers==5.24.0 to run with the version the kit is tested on rather than the machine's),
then ``python3 -m pip install --no-index --no-deps --target /tmp/site .whl/*.whl`` and
``PYTHONPATH=/tmp/site:. python3 -m scripts.gpu_check --out <dir> --work /tmp/gpu_check_work``
(``--work`` outside ``--out``: the models are GBs, and a stopped run leaves them behind).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from scripts.lib.cli import UserError, command_line, first_line, run_cli
from scripts.lib.config import load_recipe_yaml
from scripts.lib.model_shapes import build_random_model, shape_for_model

ROOT = Path(__file__).resolve().parents[1]
DEMO_RECIPE = "recipes/cpu_countdown_tiny.yaml"
# NVIDIA H200 datasheet (nvidia.com/en-us/data-center/h200): 141 GB HBM3e at 4.8 TB/s.
H200_HBM_TB_S = 4.8
VERSIONS = ("torch", "transformers", "trl", "datasets", "peft", "accelerate", "math-verify")
# A step line of scripts.lib.tracking.ConsoleLog: "step 1/2 | reward 0.1 | ... | len 786 | ... | s/step 23.45"
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
    from scripts.lib.config import parse_recipe
    from scripts.lib.models import load_config_and_tokenizer
    from scripts.lib.preflight import run_checks

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
    import shlex

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


# --------------------------------------------------------------------------- data and models


def write_local_data(folder: Path, n_train: int = 512, n_test: int = 16, seed: int = 0) -> dict[str, str]:
    """Rows shaped like each task's dataset, offline: GSM8K (a word problem, a worked answer ending
    ``#### N``) and MATH (``problem``, a ``solution`` with ``\\boxed{N}``, ``level``). Countdown is
    generated by the kit itself (``dataset_name: ""``). Returns task -> ``dataset_name``."""
    import random

    rng = random.Random(seed)
    names = ["Natalia", "Weng", "Betty", "Julie", "James", "Albert", "Ken", "Alexis"]

    def gsm8k_row():
        who, a, b, c = rng.choice(names), rng.randint(2, 99), rng.randint(2, 99), rng.randint(2, 9)
        question = (f"{who} sold {a} clips to her friends in April, and then she sold {b} more clips in May. "
                    f"Each clip costs {c} dollars. How many dollars did {who} earn in April and May altogether?")
        answer = f"{who} sold {a} + {b} = {a + b} clips.\nShe earned {a + b} * {c} = {(a + b) * c} dollars.\n" \
                 f"#### {(a + b) * c}"
        return {"question": question, "answer": answer}

    def math_row():
        a, b, c = rng.randint(2, 99), rng.randint(2, 99), rng.randint(2, 99)
        return {"problem": f"Compute ${a} \\cdot {b} + {c}$.", "type": "Prealgebra",
                "solution": f"First ${a} \\cdot {b} = {a * b}$, so the sum is $\\boxed{{{a * b + c}}}$.",
                "level": f"Level {rng.randint(1, 5)}"}

    for task, row in (("gsm8k", gsm8k_row), ("math", math_row)):
        (folder / task).mkdir(parents=True, exist_ok=True)
        for split, n in (("train", n_train), ("test", n_test)):
            lines = [json.dumps(row()) for _ in range(n)]
            (folder / task / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return {"gsm8k": str(folder / "gsm8k"), "math": str(folder / "math"), "countdown": ""}


def tokenizer_texts(gsm8k: Path) -> list[str]:
    """English for the local BPE to learn (prompts then tokenize to a realistic length), integers aside."""
    from data.prompts import R1_ZERO_SYSTEM

    rows = [json.loads(line) for line in (gsm8k / "train.jsonl").read_text().splitlines()[:200]]
    return [R1_ZERO_SYSTEM] * 20 + [r["question"] + " " + r["answer"] for r in rows]


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
        return {**row, "status": f"skipped: no shape for {model_id} in scripts/lib/model_shapes.py"}
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
    command = [sys.executable, "-m", "scripts.gpu_check", "--worker", str(result_path), "--", *argv]
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
    command = [sys.executable, "-m", "scripts.bench_gpu", "--json", str(out)] + (["--tiny"] if args.dry_run else [])
    code, output, seconds = run_part("decode", command, timeout, log, env)
    row = {"command": "python -m scripts.bench_gpu " + shlex_join(command[3:]), "wall_s": round(seconds, 1),
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
    command = [sys.executable, "-m", "scripts.gpu_check", "--worker", str(result_path), "--", *argv]
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


# --------------------------------------------------------------------------- the report


def step_time(row: dict) -> str:
    """The timed step's seconds, marked when it is the first (warm-up) step because no later one finished."""
    if "s_per_step" not in row:
        return "-"
    return f"{row['s_per_step']}" + (" (step 1, warm-up included)" if row["timed_step"] == 1 else "")


def peak_text(row: dict) -> str:
    """Peak memory in GiB; ``>=`` when the run was stopped or failed before its end (the peak so far)."""
    peak = gib(row.get("peak_bytes"))
    return peak if peak == "-" or row["status"].startswith("ok") else f">= {peak}"


def gib(n) -> str:
    return "-" if n is None else f"{n / 2**30:.2f}"


def render(report: dict) -> str:
    env, lines = report["environment"], []
    lines += [f"# GPU check: {env['device']}, {report['date']}", "",
              f"Command: `{report['command']}` ({report['wall_s']:.0f} s of a {report['budget_s']} s budget)."
              + (" **Dry run**: tiny shapes on the CPU; the numbers check the code path, not a GPU." if
                 report["dry_run"] else ""),
              "Versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + ".", ""]
    if "recipes" in report:
        lines += ["## 1. GPU recipes at their real size, 2 GRPO steps", "",
                  "Random weights of the recipe model's architecture (scripts/lib/model_shapes.py), a tokenizer "
                  "built here, the recipe's own settings except **`use_vllm: false`** (vLLM's wheel is far too "
                  "large to carry to an offline GPU machine, so generation is HF `generate` and the estimate counts "
                  "a KV cache instead of vLLM's share), `max_steps`, `holdout_size: 0`, synthetic local data, no "
                  "checkpoints. A random model almost never emits EOS: every completion runs to "
                  "`max_completion_length`, so these are **worst-case lengths**. s/step and tokens/s are the last "
                  "step's (the first also compiles kernels); generated tokens/s = completions per optimizer step "
                  "x mean length / step time; peak is `torch.cuda.max_memory_allocated` of the training process; "
                  "estimate is what `make preflight` prints for the same command.", "",
                  "| recipe | shape | status | s/step | generated tokens/s | completions/step x tokens | "
                  "peak GiB | estimate GiB | peak / estimate |", "|---|---|---|---|---|---|---|---|---|"]
        for r in report["recipes"]:
            lines.append(
                f"| {r['recipe']} | {r.get('shape') or '-'} | {r['status']} | {step_time(r)} | "
                f"{r.get('gen_tokens_per_s', '-')} | {r.get('generation_batch', '-')} x "
                f"{r.get('max_completion_length', '-')} | {peak_text(r)} | "
                f"{gib(r.get('estimate_bytes'))} | {r.get('peak_over_estimate', '-')} |")
        lines.append("")
        for r in report["recipes"]:
            if r.get("estimate"):
                lines.append(f"- {r['recipe']}: preflight: {r['estimate']}")
        lines.append("")
    if "decode" in report:
        d = report["decode"]
        lines += ["## 2. `make bench-gpu`, HF path, decode vs the memory-bandwidth bound", ""]
        if d.get("decode"):
            step, dec = d["grpo_step"], d["decode"]
            lines += [f"`{d['command']}` ({d['shape']} shape): one GRPO step {step['step_s']} s, "
                      f"{step['completion_tokens_per_s']} completion tokens/s over the step, peak "
                      f"{step['peak_gpu_gb'] if step['peak_gpu_gb'] is not None else '-'} GB.", "",
                      f"Plain `generate` decode: **{dec['decode_tokens_per_s']:.0f} tokens/s** (batch "
                      f"{dec['decode_batch']}, {dec['decode_new_tokens']} new tokens, prefill subtracted). Bound: each "
                      f"step reads all {dec['weight_bytes'] / 1e9:.3g} GB of weights once, at {report['hbm_tb_s']} TB/s "
                      f"(`--hbm-tb-s`; NVIDIA's H200 datasheet) that is {d['bound_tokens_per_s']:,} tokens/s at this "
                      f"batch: decode runs at **{d['share_of_bound']:.1%} of the bound** (the KV cache reads are "
                      "left out of the bound, so the true share is a little higher).", ""]
        else:
            lines += [f"status: {d['status']}", ""]
    if "demo" in report:
        d = report["demo"]
        lines += ["## 3. The CPU demo recipe on the GPU (`--use_cpu false`)", "", f"`{d.get('command', '')}`", "",
                  f"status: {d['status']}; training command {d.get('wall_s', '-')} s in all, "
                  f"{d.get('steps_done', 0)} steps logged, median {d.get('median_s_per_step') or '-'} s/step, "
                  f"peak {gib(d.get('peak_bytes'))} GiB."
                  + (f" Tiny base build before it: {d['base_build_s']} s"
                     f"{' (already cached)' if d.get('base_cached') else ''}." if "base_build_s" in d else ""), ""]
        lines += d.get("table") or ["(no held-out table: the run did not finish)"]
        lines.append("")
    if report.get("skipped"):
        lines += ["## Skipped", ""] + [f"- {s}" for s in report["skipped"]] + [""]
    lines += [f"Every part's output: {report['logs']}."]
    return "\n".join(lines) + "\n"


def environment(dry_run: bool) -> dict:
    import torch

    versions = {}
    for name in VERSIONS:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "missing"
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() and not dry_run else "cpu"
    return {"device": device, "versions": versions, "python": sys.version.split()[0]}


def parse_args(argv):
    return command_line(
        __doc__,
        ("--dry-run", {"action": "store_true", "help": "tiny shapes on the CPU: the same code path in seconds"}),
        ("--out", {"default": "outputs/gpu_check", "help": "report.md, report.json and logs.txt go here"}),
        ("--work", {"help": "models, data and runs (default: <out>/work; removed at the end)"}),
        ("--only", {"nargs": "+", "help": "recipe names (file stems), `decode`, `demo`: run only these"}),
        ("--steps", {"type": int, "default": 2, "help": "GRPO optimizer steps per recipe"}),
        ("--budget", {"type": float, "help": "seconds for the whole check (default: 480, so a GPU run fits 8 "
                                             "minutes; 1800 with --dry-run)"}),
        ("--recipe-cap", {"type": float, "default": 150,
                          "help": "most seconds per recipe (model build excluded); each gets a fair share of the budget"}),
        ("--decode-cap", {"type": float, "default": 90, "help": "seconds for part 2"}),
        ("--hbm-tb-s", {"type": float, "default": H200_HBM_TB_S,
                        "help": "HBM bandwidth for the decode bound (default: the H200 datasheet's 4.8 TB/s)"}),
    ).parse_args(argv)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:  # the training process of one part (see worker)
        return worker(argv[1], argv[3:] if argv[2:3] == ["--"] else argv[2:])
    args = parse_args(argv)
    if args.budget is None:
        args.budget = 1800 if args.dry_run else 480
    import torch

    if not args.dry_run and not torch.cuda.is_available():
        raise UserError("no GPU here: make gpu-check measures the recipes on a GPU "
                        "(python -m scripts.gpu_check --dry-run runs the same code path on the CPU)")
    start, started_at = time.monotonic(), datetime.now(timezone.utc)
    deadline = start + args.budget
    out = Path(args.out)
    work = Path(args.work) if args.work else out / "work"
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    args.datasets = write_local_data(work / "data")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    if args.dry_run:
        env["CUDA_VISIBLE_DEVICES"] = ""
    wanted = set(args.only or [])
    report: dict = {"date": started_at.strftime("%Y-%m-%d %H:%M UTC"), "dry_run": args.dry_run,
                    "command": "python -m scripts.gpu_check " + shlex_join(argv), "budget_s": args.budget,
                    "hbm_tb_s": args.hbm_tb_s, "environment": environment(args.dry_run), "skipped": [],
                    "logs": str(out / "logs.txt")}

    def time_left() -> float:
        return deadline - time.monotonic()

    with open(out / "logs.txt", "w") as log:
        recipes = gpu_recipes([w for w in wanted if w not in ("decode", "demo")] or None) \
            if not wanted or wanted - {"decode", "demo"} else []
        if recipes:
            report["recipes"], models = [], {}
            reserve = args.decode_cap if not wanted or "decode" in wanted else 0
            for i, path in enumerate(recipes):
                if time_left() < MIN_PART_S:
                    report["skipped"].append(f"{path.stem}: the budget was spent ({args.budget:.0f} s)")
                    continue
                print(f"gpu-check: {path.stem} ...", flush=True)
                # A fair share of what is left (time a fast recipe leaves passes on), at most --recipe-cap.
                share = max((time_left() - reserve) / (len(recipes) - i), MIN_PART_S)
                row = check_recipe(path, args, work, models, log, env, min(args.recipe_cap, share, time_left()))
                print(f"gpu-check: {path.stem}: {row['status']}", flush=True)
                report["recipes"].append(row)
        for part in ("decode", "demo"):
            if wanted and part not in wanted:
                continue
            if time_left() < MIN_PART_S:
                report["skipped"].append(f"{part}: the budget was spent ({args.budget:.0f} s; run it alone with "
                                         f"--only {part})")
                continue
            print(f"gpu-check: {part} ...", flush=True)
            if part == "decode":
                report[part] = check_decode(args, work, log, env, min(args.decode_cap, time_left()))
            else:
                report[part] = check_demo(args, work, log, env, deadline)
            print(f"gpu-check: {part}: {report[part]['status']}", flush=True)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    report["wall_s"] = round(time.monotonic() - start, 1)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (out / "report.md").write_text(render(report))
    print(f"gpu-check: report written to {out / 'report.md'} ({report['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
