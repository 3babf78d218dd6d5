"""`make gpu-check`: the kit's GPU recipes measured on one GPU, offline, in one markdown report.

    make gpu-check                                   # one GPU, no internet: designed for <= 8 min on one H200
    python -m scripts.bench.gpu_check --dry-run            # CPU, tiny shapes: the same code path, about a minute
    python -m scripts.bench.gpu_check --only qwen2.5-3b_countdown_lora decode --budget 200

Writes ``<out>/report.md`` (path printed), ``report.json`` and ``logs.txt`` (every part's output).

1. **recipes**: every GPU recipe (``recipes/*.yaml`` without ``use_cpu``) at its model's real size:
   the architecture from ``scripts/bench/model_shapes.py`` with random weights and a tokenizer built
   here (ChatML template for the ``chat`` recipes), 2 GRPO steps of ``python -m scripts.train`` with
   the recipe's own settings and these overrides: ``use_vllm false`` (vLLM's wheel is far too large
   to carry to an offline GPU machine), ``max_steps``, ``holdout_size 0``, synthetic local data
   (GSM8K- and MATH-shaped rows; generated Countdown), no checkpoints. Each recipe runs in its own process,
   so its peak memory and any crash are its own. Reported: s/step, generated tokens/s, peak
   ``torch.cuda.max_memory_allocated``, and that peak over the estimate ``make preflight`` prints
   for the same settings (``scripts/lib/preflight/resources.py``'s check, here without vLLM).
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
``PYTHONPATH=/tmp/site:. python3 -m scripts.bench.gpu_check --out <dir> --work /tmp/gpu_check_work``
(``--work`` outside ``--out``: the models are GBs, and a stopped run leaves them behind).
"""


from __future__ import annotations

import json
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from scripts.bench.gpu_check_parts import child_env, run_parts, shlex_join, worker
from scripts.bench.gpu_check_report import environment, render
from scripts.bench.synthetic_data import write_local_data
from scripts.lib.recipe.cli import UserError, command_line, run_cli

# NVIDIA H200 datasheet (nvidia.com/en-us/data-center/h200): 141 GB HBM3e at 4.8 TB/s.
H200_HBM_TB_S = 4.8


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
                        "(python -m scripts.bench.gpu_check --dry-run runs the same code path on the CPU)")
    start, started_at = time.monotonic(), datetime.now(timezone.utc)
    deadline = start + args.budget
    out = Path(args.out)
    work = Path(args.work) if args.work else out / "work"
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    args.datasets = write_local_data(work / "data")
    report: dict = {"date": started_at.strftime("%Y-%m-%d %H:%M UTC"), "dry_run": args.dry_run,
                    "command": "python -m scripts.bench.gpu_check " + shlex_join(argv), "budget_s": args.budget,
                    "hbm_tb_s": args.hbm_tb_s, "environment": environment(args.dry_run),
                    "logs": str(out / "logs.txt")}
    with open(out / "logs.txt", "w") as log:  # recipes, decode, demo: each a child process, each capped
        report.update(run_parts(set(args.only or []), args, work, log, child_env(args.dry_run), deadline))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    report["wall_s"] = round(time.monotonic() - start, 1)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (out / "report.md").write_text(render(report))
    print(f"gpu-check: report written to {out / 'report.md'} ({report['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
