"""`make bench-faults`: kill a CPU training run at random moments, rerun the same command until it ends, count the loss.

    python -m scripts.bench.faults --kills 20 --seed 0               # 1 rank
    python -m scripts.bench.faults --nproc 2 --kills 10 --seed 0     # 2 ranks (torchrun); a kill hits one rank
    python -m scripts.bench.faults --nnodes 2 --kills 5 --seed 0     # 2 launchers as 2 nodes; a node is lost

A shortened CPU run (an untrained tiny Qwen2 built once, a checkpoint every step, ``save_total_limit 2``,
held-out scoring every 3 steps on 8 prompts, a length reward so the weights move every step) first runs
uninterrupted. Then the same run is started, and once it has begun a new training step (0 or 1 more, drawn),
it is killed 0 to 2 step-times later (drawn with ``--seed``): the process (1 rank), one rank drawn at random
(2 ranks), or one node's launcher and processes (2 nodes). Its stack at that moment says where the kill
landed (scripts/bench/faults_runs.py). The same command then runs again (``resume: auto``) and is killed
again, until ``--kills`` kills are spent; the last attempt goes to the end. A run advances at most about 4
steps per attempt, so it is given ``4 * kills + 4`` steps (``--steps``): every kill happens.

Per kill: where it landed, the last step the attempt had begun, the checkpoint the rerun resumed from and the
incomplete ones it skipped, the steps re-done (absolute), and, with several processes, how long the rest of
the run lived after the kill and the line its survivors printed. At the end: the final weights against the
uninterrupted run's (bit for bit), and every TensorBoard scalar, ``health.jsonl`` record and
``eval_history.jsonl`` step against the uninterrupted run's: none missing, none twice.

The bound on survivors: a killed process's sockets close with it, so its peers' next collective fails at
once and they stop (one line naming the dead rank), and torchrun ends the other workers of its node within
its 0.1 s monitor interval. What would hold a survivor longer is a peer that is alive but silent; for that
the runs set ``--ddp_timeout 60`` (gloo's limit on one collective: ample for this run, whose longest wait
between collectives is a checkpoint save or held-out scoring of a second or two, even on a loaded machine)
and torchrun allows 30 s between its SIGTERM and SIGKILL. The bench fails a kill after which any process of
the run lives longer than ``--peer-timeout`` (90 s = 60 + 30).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from scripts.bench.faults_checks import (first_divergence, landed, log_problems, log_summary, tensorboard_values,
                                        weights_diff)
from scripts.bench.faults_runs import ROOT, SHAPES, finish, free_port, kill, launcher_commands, start, \
    wait_for_workers, watch_the_end
from scripts.lib.recipe.cli import ArgumentParser, UserError, run_cli

WORK_MARK = ".bench-faults"  # in every --work folder this bench made: the only kind it will delete
DDP_TIMEOUT = 60


def train_args(model: Path, out: Path, steps: int, ranks: int) -> list[str]:
    return ["--config", str(ROOT / "recipes" / "cpu_countdown_tiny.yaml"), "--model_name_or_path", str(model),
            "--tiny_base_recipe", "", "--output_dir", str(out), "--max_steps", str(steps), "--save_steps", "1",
            "--save_total_limit", "2", "--per_device_train_batch_size", "8", "--num_generations", "4",
            "--max_completion_length", "12", "--holdout_size", "8", "--holdout_eval_steps", "3",
            "--holdout_eval_samples", "2", "--max_train_samples", "64", "--disable_tqdm", "true",
            "--logging_steps", "1", "--reward_funcs", "format_reward", "countdown_reward",
            "scripts.bench.faults_reward.step_marking_length_reward", "--reward_weights", "0.5", "1.0", "1.0",
            "--preflight", "false", *(["--ddp_timeout", str(DDP_TIMEOUT)] if ranks > 1 else [])]


def tiny_model(folder: Path) -> Path:
    """The untrained tiny Qwen2 every shape trains, built once (scripts/lib/models/build_once.py)."""
    from scripts.lib.models.build_once import build_once
    from scripts.lib.models.tiny_base.build import build_tiny_base
    from scripts.lib.models.tiny_base.config import TinyBaseConfig
    from scripts.lib.models.tiny_base.task import recipe_tiny_base_task

    cfg = TinyBaseConfig(corpus_size=1500, steps=0, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2)
    task = recipe_tiny_base_task(str(ROOT / "recipes" / "cpu_countdown_tiny.yaml"), holdout_size=16)
    build_once(folder, lambda p: (p / "model.safetensors").is_file(),
               lambda tmp: build_tiny_base(tmp, cfg, task, progress=False))
    return folder


def fresh_work_folder(work: Path) -> None:
    """Empty ``work`` for this bench: a folder it made before (its mark inside) is replaced, any other refused."""
    if work.exists():
        if not (work / WORK_MARK).is_file():
            raise UserError(f"--work {work} exists and was not made by bench-faults (no {WORK_MARK} in it): "
                            "choose a new folder; nothing was deleted")
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / WORK_MARK).write_text("made by scripts/bench/faults.py; replaced on its next run with this --work\n")


def steps_redone(last_begun: int, resumed_from: str) -> int:
    """Steps the killed attempt had begun that its rerun trains again: absolute step numbers, both."""
    resumed_step = int(resumed_from.rpartition("-")[2]) if resumed_from.startswith("checkpoint-") else 0
    return max(last_begun - resumed_step, 0)


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--nproc", type=int, choices=(1, 2), default=1, help="Processes (torchrun when 2).")
    parser.add_argument("--nnodes", type=int, choices=(1, 2), default=1,
                        help="2: two torchrun launchers on this machine as two nodes, one process each.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="Training steps (default 4 * kills + 4).")
    parser.add_argument("--work", default=None,
                        help="Folder for the runs (default outputs/bench_faults/<shape>); replaced only if this "
                             f"bench made it (a {WORK_MARK} file in it).")
    parser.add_argument("--peer-timeout", type=float, default=90.0,
                        help="Seconds every process of a run may live after a kill (the docstring says why 90).")
    args = parser.parse_args(argv)
    if args.nnodes == 2 and args.nproc != 1:
        raise UserError("--nnodes 2 runs one process per node: leave --nproc at 1")
    shape = "2 nodes" if args.nnodes == 2 else f"{args.nproc} rank" + ("s" if args.nproc > 1 else "")
    ranks = SHAPES[shape][0] * SHAPES[shape][1]
    steps = args.steps or 4 * args.kills + 4
    work = (ROOT / (args.work or f"outputs/bench_faults/{shape.replace(' ', '_')}")).resolve()
    fresh_work_folder(work)
    rng = random.Random(args.seed)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    print(f"bench-faults: {shape}, {args.kills} kills, {steps} steps, seed {args.seed}, commit {commit.strip()}, "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    began = time.monotonic()
    model = tiny_model(ROOT / "outputs" / "bench_faults" / "tiny_model")

    port = free_port()
    straight = work / "straight"
    attempt = start(launcher_commands(shape, train_args(model, straight, steps, ranks), port), work, "straight")
    if finish(attempt, timeout=3600) != 0:
        print(attempt.output()[-3000:])
        return 1
    times = [t for _, t in attempt.steps()]
    step_seconds = statistics.median(b - a for a, b in zip(times, times[1:])) if len(times) > 1 else 1.0
    print(f"uninterrupted run: {time.monotonic() - began:.0f} s, {step_seconds:.2f} s per step", flush=True)

    out = work / "killed"
    commands = launcher_commands(shape, train_args(model, out, steps, ranks), port)
    rows, attempts, code = [], 0, None
    while True:
        attempts += 1
        attempt = start(commands, work, f"run{attempts}")
        if len(rows) == args.kills:
            code = finish(attempt, timeout=3600)  # the kills are spent: this attempt goes to the end
            break
        more = rng.randrange(2)  # the kill comes in the first new step, or the one after
        while len(attempt.steps()) < 1 + more and attempt.alive():
            time.sleep(0.02)
        wait_for_workers(attempt, ranks)
        time.sleep(rng.uniform(0, 2 * step_seconds))
        victim = rng.randrange(SHAPES[shape][0] if shape == "2 nodes" else ranks)
        everyone = [p.pid for p in attempt.launchers] + [p.pid for p in attempt.workers().values()]
        if not attempt.alive():
            code = finish(attempt, timeout=60)
            print(f"attempt {attempts} ended before its kill: {len(rows)} of {args.kills} kills happened")
            break
        killed = kill(attempt, shape, victim)
        watch_the_end(attempt, killed, everyone, args.peer_timeout)
        dumps = [attempt.stacks / f"{pid}.txt" for pid in killed.pids]
        dump = next((d.read_text(errors="replace") for d in dumps if d.is_file() and d.stat().st_size), "")
        phase, innermost = landed(dump)
        dead = re.findall(r"\d+", killed.target.partition("(")[2]) or [str(victim)]
        said = [line for line in attempt.output().splitlines() if re.match(r"error \(rank \d+\): ", line)]
        rows.append({"attempt": attempts, "target": killed.target, "phase": phase, "innermost": innermost,
                     "step": killed.step, "lived": killed.survivors_lived, "left": killed.left_behind,
                     "said": said, "named": ranks == 1 or (bool(said) and all(f"rank {dead[0]}" in s for s in said))})
    # What each rerun chose (its own log says): the checkpoint it resumed from, and what it skipped.
    for row in rows:
        text = "".join(p.read_text(errors="replace") for p in sorted(work.glob(f"run{row['attempt'] + 1}.*log")))
        chosen = re.search(r"resuming from (\S+)", text) or re.search(r"nothing to train: (\S+) is at step", text)
        row["resumed"] = Path(chosen.group(1)).name if chosen else "fresh start"
        row["skipped"] = sorted(set(re.findall(r"skipping incomplete checkpoint \S+/(checkpoint-\d+) \(([^)]*)\)", text)))
        row["redone"] = steps_redone(row["step"] or 0, row["resumed"])

    print(f"\n{shape}: {len(rows)} kills (seed {args.seed}), {attempts} attempts; last attempt exit code {code}")
    print("| kill | killed | landed in | innermost frame | last step begun | resumed from | skipped as incomplete "
          "| steps re-done | rest of the run gone after | survivors' line names it |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for i, row in enumerate(rows, 1):
        skipped = "; ".join(f"{c} ({r})" for c, r in row["skipped"]) or "-"
        lived = f"{row['lived']:.1f} s" + (f", LEFT {row['left']}" if row["left"] else "")
        named = "-" if ranks == 1 else "yes" if row["named"] else "NO"
        print(f"| {i} | {row['target']} | {row['phase']} | `{row['innermost']}` | {row['step']} | {row['resumed']} "
              f"| {skipped} | {row['redone']} | {lived} | {named} |")
    example = next((row["said"][0] for row in rows if row["said"]), None)
    if example:
        print(f"\na survivor's line: {example}")
    if code != 0:
        print(attempt.output()[-3000:])
        return 1
    diff = weights_diff(out, straight)
    problems = log_problems(out, straight)
    slow = [i for i, row in enumerate(rows, 1) if row["lived"] > args.peer_timeout or row["left"]]
    unnamed = [i for i, row in enumerate(rows, 1) if not row["named"]]
    print(f"\nkills that happened: {len(rows)} of {args.kills}; every resume reached the end: yes; final weights vs "
          f"uninterrupted: {'bit-equal' if diff == 0 else f'largest difference {diff:.3g}'}")
    if diff != 0:  # where the runs parted: the attempt whose first step it is resumed from the checkpoint before it
        step = first_divergence(out, straight)
        epoch = tensorboard_values(straight).get("train/epoch", {}).get(step)
        after = [i for i, row in enumerate(rows, 1) if row["resumed"] == f"checkpoint-{(step or 0) - 1}"]
        print(f"first step whose loss, KL or entropy differs: {step} (epoch {epoch}), the first step after the "
              f"resume of kill {after or '-'}")
    print(f"logs against the uninterrupted run ({log_summary(out)}): "
          + ("none missing, none twice" if not problems else "; ".join(problems)))
    print(f"longest a process outlived a kill: {max((r['lived'] for r in rows), default=0):.1f} s (bound "
          f"{args.peer_timeout:.0f} s); over the bound or left behind: {slow or 'none'}; "
          f"kills whose survivors did not name the dead rank: {unnamed or 'none'}")
    print(f"total {time.monotonic() - began:.0f} s, load {os.getloadavg()[0]:.2f}")
    ok = len(rows) == args.kills and diff == 0 and not problems and not slow and not unnamed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(run_cli(main))
