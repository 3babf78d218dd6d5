"""Several processes: build-once folders, held-out scoring shared across ranks, one console.

The 2-rank tests launch real processes (torchrun, gloo on CPU). What "equal" means: every completion
is sampled from its own seed (``completion_seed``: run seed, prompt position, sample number), so a
rank's share gives the same completions as the one-process run; only floating-point differences
between batches of other shapes could flip a token, and on these tiny CPU runs there are none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import ROOT, TINY_TASK

from scripts.lib.models.build_once import build_once, folder_lock
from scripts.lib.models.tiny_base.build import build_key
from scripts.lib.models.tiny_base.config import TinyBaseConfig

SMALL_BASE = ROOT / "tests" / "fixtures" / "tiny_base_small.yaml"


def env_for_ranks() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")


# --------------------------------------------------------------------------- build once


def test_build_once_builds_in_a_temporary_folder_and_renames_it(tmp_path):
    target = tmp_path / "thing"
    seen = []

    def build(folder):
        seen.append(folder)
        assert not target.exists()  # nothing at the target while it is written
        (folder / "a.txt").write_text("1")

    assert build_once(target, lambda p: (p / "a.txt").is_file(), build) is True
    assert seen[0].parent == tmp_path and seen[0] != target
    assert (target / "a.txt").read_text() == "1"
    assert build_once(target, lambda p: (p / "a.txt").is_file(), build) is False  # done: not built again
    assert len(seen) == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".thing.building")] == []


def test_a_stale_folder_is_replaced_whole_and_a_killed_build_leaves_nothing_behind(tmp_path):
    target = tmp_path / "thing"
    target.mkdir()
    (target / "old.txt").write_text("stale")
    (tmp_path / ".thing.building-dead").mkdir()  # what a build killed halfway leaves

    def build(folder):
        (folder / "new.txt").write_text("2")

    assert build_once(target, lambda p: (p / "new.txt").is_file(), build)
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".thing.lock", "thing"]


def test_a_failed_build_leaves_the_target_as_it_was(tmp_path):
    target = tmp_path / "thing"

    def build(folder):
        (folder / "half.txt").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        build_once(target, lambda p: p.is_dir(), build)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == [".thing.lock"]


def test_the_lock_of_a_dead_process_does_not_block(tmp_path):
    target = tmp_path / "thing"
    holder = textwrap.dedent(f"""
        import fcntl, os
        handle = open({str(tmp_path / '.thing.lock')!r}, "a")
        fcntl.flock(handle, fcntl.LOCK_EX)
        os._exit(9)  # dies holding the lock
    """)
    assert subprocess.run([sys.executable, "-c", holder], timeout=60).returncode == 9
    with folder_lock(target):  # would wait forever if the dead process still held it
        pass
    assert build_once(target, lambda p: p.is_dir(), lambda folder: None)


def test_a_folder_moved_aside_by_a_killed_swap_is_cleared_whether_or_not_a_build_follows(tmp_path):
    target = tmp_path / "thing"
    target.mkdir()
    (target / "new.txt").write_text("2")
    (tmp_path / ".thing.old-dead" / "folder").mkdir(parents=True)  # killed between the swap and the delete
    assert build_once(target, lambda p: (p / "new.txt").is_file(), lambda folder: None) is False  # done already
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing"]

    (tmp_path / ".thing.old-dead2" / "folder").mkdir(parents=True)
    assert build_once(target, lambda p: (p / "newer.txt").is_file(), lambda folder: (folder / "newer.txt").touch())
    assert sorted(p.name for p in tmp_path.iterdir()) == [".thing.lock", "thing"]


# Written against build_once's plain signature, so that it runs (and hangs) on the code before the fix too.
BUILDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from scripts.lib.models import build_once

    def build(folder):
        print("building", flush=True)
        time.sleep(600)

    build_once.START_TIMEOUT = float(sys.argv[2])
    try:
        build_once.build_once(Path(sys.argv[1]), lambda p: (p / "done").is_file(), build)
        print("done", flush=True)
    except Exception as err:
        print(f"{type(err).__name__}: {err}", flush=True)
""")


def _build_rank(target, local_rank: str, start_timeout: float = 600) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", BUILDER, str(target), str(start_timeout)], cwd=ROOT,
                            env=dict(env_for_ranks(), LOCAL_RANK=local_rank), stdout=subprocess.PIPE, text=True)


def test_a_rank_waiting_for_local_rank_0_stops_soon_after_the_builder_dies(tmp_path):
    target = tmp_path / "thing"
    builder = _build_rank(target, "0")
    waiter = None
    try:
        assert builder.stdout.readline().strip() == "building"
        waiter = _build_rank(target, "1")
        time.sleep(2)
        assert waiter.poll() is None  # a build under way: it waits
        builder.kill()
        builder.wait()
        out, _ = waiter.communicate(timeout=30)  # before the fix: it waited for ever
    finally:
        for proc in (builder, waiter):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    assert out.strip() == (f"BuildAbandoned: local rank 0 stopped building {target} before it was done (its process "
                           "died or failed: see its output); rerun, the next build starts over")


def test_a_rank_waiting_for_a_builder_that_never_comes_stops_after_its_timeout(tmp_path):
    waiter = _build_rank(tmp_path / "thing", "1", start_timeout=1)
    try:
        out, _ = waiter.communicate(timeout=60)  # before the fix: it waited for ever
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert out.strip().startswith("BuildAbandoned: waited 1 s for local rank 0 to build")


def test_two_runs_starting_together_build_the_tiny_base_once_and_both_read_it_whole(tmp_path):
    target = tmp_path / "base"
    racer = textwrap.dedent(f"""
        import json, sys, time
        from pathlib import Path
        sys.path.insert(0, {str(ROOT / 'tests')!r})
        from conftest import TINY_TASK
        from scripts.lib.models.loading import load_tokenizer
        from scripts.lib.models.tiny_base.build import ensure_tiny_base
        from scripts.lib.models.tiny_base.config import TinyBaseConfig
        from transformers import AutoModelForCausalLM
        cfg = TinyBaseConfig(corpus_size=400, steps=3, batch_size=8, warmup_steps=1, hidden_size=32,
                             intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, audit_samples=0)
        Path({str(tmp_path)!r}, "ready-" + sys.argv[1]).touch()  # both imported: start together
        while len(list(Path({str(tmp_path)!r}).glob("ready-*"))) < 2:
            time.sleep(0.01)
        built = ensure_tiny_base({str(target)!r}, cfg, TINY_TASK, progress=False)
        model = AutoModelForCausalLM.from_pretrained({str(target)!r})
        tokenizer = load_tokenizer({str(target)!r})
        print(json.dumps({{"built": built, "params": sum(p.numel() for p in model.parameters()),
                          "vocab": len(tokenizer)}}))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", racer, str(i)], cwd=ROOT, env=env_for_ranks(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(r["built"] for r in results) == [False, True]  # built once
    assert results[0]["params"] == results[1]["params"] > 0 and results[0]["vocab"] == results[1]["vocab"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".base.lock", "base", "ready-0", "ready-1"]


def test_the_base_key_covers_what_changes_the_base_only():
    cfg = TinyBaseConfig()
    key = build_key(cfg, TINY_TASK)
    # holdout_size up to audit_samples: pretraining leaves out the same problems, the same base.
    assert build_key(cfg, {**TINY_TASK, "test_size": cfg.audit_samples}) == key
    # Gate thresholds, the audit's length and the thread count judge or pace the build only.
    assert build_key(TinyBaseConfig(gate_go_back=0.5, gate_hit_ratio=1.0, audit_max_tokens=32, num_threads=1),
                     TINY_TASK) == key
    # What the weights or the tokenizer depend on does change it.
    assert build_key(cfg, {**TINY_TASK, "test_size": cfg.audit_samples + 1}) != key
    assert build_key(TinyBaseConfig(steps=cfg.steps + 1), TINY_TASK) != key
    assert build_key(cfg, {**TINY_TASK, "seed": 7}) != key
    assert build_key(cfg, {**TINY_TASK, "template": "r1_zero"}) != key


# --------------------------------------------------------------------------- held-out scoring across ranks


def run_scoring(model_dir, out, nproc: int):
    out.mkdir()
    logs = out / "logs"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--log-dir",
               str(logs), "--redirects", "3", str(ROOT / "tests" / "dist_scoring.py"), str(model_dir), str(out)]
    proc = subprocess.run(command, cwd=ROOT, env=env_for_ranks(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    stdout = {p.parent.name: p.read_text() for p in logs.glob("*/attempt_0/*/stdout.log")}
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(nproc)], stdout


def test_two_ranks_each_score_their_share_and_rank_0_alone_prints_the_same_numbers(tiny_model_dir, tmp_path):
    (one,), one_out = run_scoring(tiny_model_dir, tmp_path / "one", 1)
    two, two_out = run_scoring(tiny_model_dir, tmp_path / "two", 2)
    # 5 held-out prompts: one process generates 5 rows; two generate 3 each (the second share padded).
    assert one["scoring_rows"] == 5 and [r["scoring_rows"] for r in two] == [3, 3]
    # In-training eval: greedy (5) + 2 samples per prompt (10) on one; 3 + 6 per rank on two.
    assert one["eval_rows"] == 15 and [r["eval_rows"] for r in two] == [9, 9]
    # Equal numbers: per-completion seeds make each completion the one-process run's.
    for rank_result in two:
        assert rank_result["texts"] == one["texts"] and rank_result["lengths"] == one["lengths"]
        assert rank_result["before"] == one["before"] and rank_result["example"] == one["example"]
        assert rank_result["eval"] == one["eval"]
    assert len(set(one["texts"])) > 1  # the samples differ from each other: the seeds are per completion
    assert two_out["0"].count("held-out before:") == 1
    assert "held-out" not in two_out["1"]


# --------------------------------------------------------------------------- ZeRO-3: generate in lockstep


def test_sharded_parameters_make_generate_run_in_lockstep(tiny_model_dir, monkeypatch):
    import transformers.integrations

    from scripts.lib.evaluation.generation import HFGenerator
    from scripts.lib.models.loading import load_trained

    model, tokenizer = load_trained(str(tiny_model_dir))
    calls = []
    original = model.generate

    def recording_generate(**kwargs):
        calls.append(kwargs.get("synced_gpus"))
        kwargs.pop("synced_gpus", None)  # one real process: nothing to sync with
        return original(**kwargs)

    model.generate = recording_generate
    HFGenerator(model, tokenizer, 4)(["a"])
    monkeypatch.setenv("WORLD_SIZE", "2")
    HFGenerator(model, tokenizer, 4)(["a"])  # two processes, parameters whole
    monkeypatch.setattr(transformers.integrations, "is_deepspeed_zero3_enabled", lambda: True)
    HFGenerator(model, tokenizer, 4)(["a"], greedy=True)
    HFGenerator(model, tokenizer, 4)(["a"], samples_per_prompt=2)
    assert calls == [None, None, True, True]


# --------------------------------------------------------------------------- make train NPROC=2, fresh


def test_make_train_on_two_processes_with_nothing_cached_builds_the_base_once_and_prints_once(tmp_path):
    base, out = tmp_path / "base", tmp_path / "run"
    args = (f"--tiny_base_recipe {SMALL_BASE} --model_name_or_path {base} --output_dir {out} --max_steps 2 "
            "--save_steps 2 --per_device_train_batch_size 8 --num_generations 4 --max_completion_length 12 "
            "--holdout_size 8 --max_train_samples 64 --disable_tqdm true")
    dry = subprocess.run(["make", "--no-print-directory", "-n", "train", "NPROC=2", f"ARGS={args}"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    command = dry.stdout.strip().splitlines()[-1]
    assert "torchrun --nproc_per_node 2" in command
    proc = subprocess.run(command, shell=True, cwd=ROOT, env=env_for_ranks(), capture_output=True, text=True,
                          timeout=600)
    console = proc.stdout + proc.stderr
    assert proc.returncode == 0, console[-4000:]
    for line in ("tiny base model: building", "base audit", "data: 64 training prompts", "preflight passed",
                 "held-out before:", "step 1/2", "step 2/2", "held-out after:", "| format rate |", "checkpoints:"):
        assert console.count(line) == 1, (line, console[-4000:])
    assert (base / "tiny_base_build.json").is_file() and (out / "held_out.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".base.lock", "base", "run"]
