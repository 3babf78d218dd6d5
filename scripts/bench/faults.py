"""`make bench-faults`: kill -9 a CPU training run at random moments, rerun it until it ends, count the loss.

    python -m scripts.bench.faults --kills 20 --seed 0      # 1 rank
    python -m scripts.bench.faults --kills 2 --steps 4      # the slow test's quick version

A shortened CPU run (an untrained tiny Qwen2 built in seconds, ``--steps`` steps, a checkpoint every
step, ``save_total_limit 2``, held-out scoring every 3 steps on 8 prompts, a length reward so the
weights move every step) is started; after training has begun it is sent SIGKILL at a moment drawn
with ``--seed``. Just before the kill, SIGUSR1 makes faulthandler print the main thread's Python
stack, which tells where the kill landed (generation, backward, checkpoint save, rotation of old
checkpoints, held-out scoring, rewards, other). Then the same command runs again (``resume: auto``),
and is killed again, until ``--kills`` kills are spent; the last run goes to the end. Per kill: where
it landed, the checkpoint the resume chose, the incomplete checkpoints it skipped (file and reason),
and the steps re-done. At the end the final weights are compared with an uninterrupted run's.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts.lib.recipe.cli import ArgumentParser, run_cli

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ("import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=False); "
          "from scripts.train import run; sys.exit(run(sys.argv[1:]))")
# Where a kill landed: the first of these found in the main thread's stack (innermost frame first).
PHASES = [("rotation of old checkpoints", "_rotate_checkpoints"), ("checkpoint save", "_save_checkpoint"),
          ("held-out scoring", "held_out"), ("held-out scoring", "lib/evaluation/"), ("rewards", "_calculate_rewards"),
          ("generation", "generate"), ("backward", "backward"), ("optimizer step", "optimizer"),
          ("training step", "training_step")]


def train_args(model: Path, out: Path, steps: int) -> list[str]:
    return ["--config", str(ROOT / "recipes" / "cpu_countdown_tiny.yaml"), "--model_name_or_path", str(model),
            "--tiny_base_recipe", "", "--output_dir", str(out), "--max_steps", str(steps), "--save_steps", "1",
            "--save_total_limit", "2", "--per_device_train_batch_size", "8", "--num_generations", "4",
            "--max_completion_length", "12", "--holdout_size", "8", "--holdout_eval_steps", "3",
            "--holdout_eval_samples", "2", "--max_train_samples", "64", "--disable_tqdm", "true",
            "--logging_steps", "1", "--reward_funcs", "format_reward", "countdown_reward",
            "tests.slow_reward.slow_length_reward", "--reward_weights", "0.5", "1.0", "1.0", "--preflight", "false"]


def tiny_model(folder: Path) -> Path:
    from scripts.lib.models.tiny_base.build import build_tiny_base
    from scripts.lib.models.tiny_base.config import TinyBaseConfig
    from scripts.lib.models.tiny_base.task import recipe_tiny_base_task

    if (folder / "model.safetensors").is_file():
        return folder
    cfg = TinyBaseConfig(corpus_size=1500, steps=0, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2)
    task = recipe_tiny_base_task(str(ROOT / "recipes" / "cpu_countdown_tiny.yaml"), holdout_size=16)
    return build_tiny_base(folder, cfg, task, progress=False)


def start(args: list[str], marker: Path, log: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1",
               SLOW_REWARD_MARKER=str(marker), SLOW_REWARD_SECONDS="0")
    with open(log, "w") as handle:
        return subprocess.Popen([sys.executable, "-c", LAUNCH, *args], cwd=ROOT, env=env, stdout=handle,
                                stderr=subprocess.STDOUT)


def steps_started(marker: Path) -> int:
    return len(marker.read_text().splitlines()) if marker.is_file() else 0


def landed(text: str) -> str:
    mark = "(most recent call first)"
    dump = text[text.rfind(mark):] if mark in text else ""
    if not dump:
        return "no stack (process busy outside Python?)"
    for phase, needle in PHASES:
        if needle in dump:
            return phase
    return "other (loading, logging)"


def weights_diff(a: Path, b: Path) -> float:
    from safetensors.torch import load_file

    x, y = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert x.keys() == y.keys()
    return max(float((x[k].double() - y[k].double()).abs().max()) for k in x)


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--work", default="outputs/bench_faults", help="Folder for the runs (replaced).")
    parser.add_argument("--max-delay", type=float, default=2.0,
                        help="A kill comes 0..this many seconds after the run's first training step began.")
    args = parser.parse_args(argv)
    import shutil

    work = ROOT / args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    model = tiny_model(work / "tiny")
    rng = random.Random(args.seed)

    started = time.monotonic()
    straight = work / "straight"
    proc = start(train_args(model, straight, args.steps), work / "straight.marker", work / "straight.log")
    if proc.wait() != 0:
        print((work / "straight.log").read_text()[-3000:])
        return 1
    print(f"uninterrupted run: {time.monotonic() - started:.0f} s")

    out = work / "killed"
    rows, runs, code = [], 0, None
    while True:
        runs += 1
        marker, log = work / f"run{runs}.marker", work / f"run{runs}.log"
        proc = start(train_args(model, out, args.steps), marker, log)
        if len(rows) < args.kills:
            while steps_started(marker) < 1 and proc.poll() is None:
                time.sleep(0.05)
            time.sleep(rng.uniform(0, args.max_delay))
        if len(rows) < args.kills and proc.poll() is None:
            proc.send_signal(signal.SIGUSR1)
            time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            text = log.read_text(errors="replace")
            rows.append({"run": runs, "phase": landed(text), "started": steps_started(marker)})
            continue
        code = proc.wait()  # the kills are spent (or the run ended first): this run goes to the end
        break
    # What each rerun chose (its own log says): the checkpoint it resumed from and what it skipped.
    for row in rows:
        text = (work / f"run{row['run'] + 1}.log").read_text(errors="replace")
        chosen = re.search(r"resuming from (\S+)", text) or re.search(r"nothing to train: (\S+) is at step", text)
        row["resumed"] = Path(chosen.group(1)).name if chosen else "fresh start"
        row["skipped"] = re.findall(r"skipping incomplete checkpoint \S+/(checkpoint-\d+) \(([^)]*)\)", text)
        step = int(row["resumed"].split("-")[1]) if chosen else 0
        row["redone"] = max(row["started"] - step, 0)

    final_log = (work / f"run{runs}.log").read_text(errors="replace")
    print(f"\n{len(rows)} kills (seed {args.seed}), {runs} runs; last run exit code {code}")
    print("| kill | landed in | steps begun | resumed from | skipped as incomplete | steps re-done |")
    print("|---|---|---|---|---|---|")
    for i, row in enumerate(rows, 1):
        skipped = "; ".join(f"{c} ({r})" for c, r in row["skipped"]) or "-"
        print(f"| {i} | {row['phase']} | {row['started']} | {row['resumed']} | {skipped} | {row['redone']} |")
    if code != 0:
        print(final_log[-3000:])
        return 1
    diff = weights_diff(out, straight)
    print(f"\nresumes that reached the end: {'yes' if code == 0 else 'no'}; final weights vs uninterrupted: "
          f"{'bit-equal' if diff == 0 else f'largest difference {diff:.3g}'}")
    print(f"total {time.monotonic() - started:.0f} s")
    return 0 if diff == 0 else 1


if __name__ == "__main__":
    sys.exit(run_cli(main))
