"""Faults a run must survive: a second run on the same folder, a disk that fills during a save.

The kill -9 at random moments (one rank, two ranks, two nodes) is ``make bench-faults``
(scripts/bench/faults.py); a slow test here runs it with a few kills.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, train_command

HOLD = ("import sys, time\n"
        "from scripts.lib.runs.output_lock import hold_output_dir\n"
        "with hold_output_dir(sys.argv[1]):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(600)\n")


def _env(**extra) -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1", **extra)


def _holder(out: Path, **env) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], cwd=ROOT, env=_env(**env), text=True,
                            stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_on_a_held_output_dir_is_refused_in_one_line_naming_the_holder(tmp_path):
    out = tmp_path / "run"
    holder = _holder(out)
    try:
        second = subprocess.run(train_command("--config", str(ROOT / "recipes" / "cpu_countdown_tiny.yaml"),
                                              "--output_dir", str(out)),
                                cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 2, second.stderr[-2000:]
    assert second.stderr.strip().splitlines() == [
        f"error: output_dir {out} is in use by another training run (pid {holder.pid}): wait for it, stop it, "
        "or choose another output_dir"
    ]
    assert not list(out.glob("checkpoint-*")) and not (out / "runs").exists()


def test_the_lock_of_a_killed_run_is_taken_over_at_once(tmp_path):
    from scripts.lib.runs.output_lock import LOCK_FILE, RunInUse, hold_output_dir

    out = tmp_path / "run"
    holder = _holder(out)
    with pytest.raises(RunInUse, match=f"pid {holder.pid}"), hold_output_dir(out):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with hold_output_dir(out):  # the kernel dropped the dead process's lock: no stale file to clean
        assert (out / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    with hold_output_dir(out):  # and leaving the block released it
        pass


def test_other_ranks_of_the_same_run_take_no_lock(tmp_path):
    out = tmp_path / "run"
    holder = _holder(out)  # rank 0 of a run
    try:
        rank1 = _holder(out, RANK="1")  # would block forever / be refused if it tried to lock
        rank1.kill()
        rank1.wait()
    finally:
        holder.kill()
        holder.wait()


def test_resume_never_ignores_the_lock_file_of_an_empty_output_dir(tmp_path):
    from scripts.lib.runs.resume import resolve_resume
    from scripts.lib.runs.output_lock import hold_output_dir

    with hold_output_dir(tmp_path / "run"):
        assert resolve_resume("never", str(tmp_path / "run")) is None


# ---------------------------------------------------------------- disk full during a save

def test_disk_full_errors_become_one_line_naming_the_folder_and_its_free_space(tmp_path):
    from scripts.lib.runs.disk import _free_bytes, _human, disk_full_error

    line = disk_full_error(OSError(errno.ENOSPC, "No space left on device"), tmp_path)
    assert line.startswith(f"disk full while writing to {tmp_path} ({_human(_free_bytes(tmp_path))} free there); "
                           "no complete checkpoint was saved yet: free some space")
    # torch.save's zip writer and safetensors carry the OS text in their own exception types
    assert disk_full_error(RuntimeError("[enforce fail] file write failed: No space left on device"), tmp_path)
    assert disk_full_error(OSError(errno.EACCES, "Permission denied"), tmp_path) is None
    assert disk_full_error(ValueError("a bug"), tmp_path) is None
    assert _human(1536) == "1.5 KiB" and _human(10) == "10 B"


@pytest.fixture(scope="module")
def disk_full_run(tiny_model_dir, tmp_path_factory):
    """A 3-step run, a checkpoint per step, whose checkpoint-2 save hits ENOSPC in torch.save (the optimizer)."""
    from test_stop_resume import run_args

    out = tmp_path_factory.mktemp("diskfull") / "run"
    args = run_args(tiny_model_dir, out, "--save_steps", "1", "--max_steps", "3")
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "enospc_train.py"), *args], cwd=ROOT,
                          env=_env(ENOSPC_AT="checkpoint-2/optimizer.pt"), capture_output=True, text=True,
                          timeout=900)
    return out, args, proc


def test_a_full_disk_during_a_save_stops_the_run_in_one_line_and_keeps_the_previous_checkpoint(disk_full_run):
    from scripts.lib.runs.resume import checkpoint_problem, last_complete_checkpoint

    out, _, proc = disk_full_run
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert errors[0].startswith(f"error: disk full while writing to {out} (")
    assert f"the newest complete checkpoint, {out / 'checkpoint-1'}, is intact" in errors[0]
    assert checkpoint_problem(out / "checkpoint-1") is None
    assert checkpoint_problem(out / "checkpoint-2") is not None  # the save that failed is incomplete...
    assert last_complete_checkpoint(out) == str(out / "checkpoint-1")  # ...so a resume skips it


def test_after_a_full_disk_the_same_command_resumes_and_reaches_the_end(disk_full_run):
    out, args, _ = disk_full_run
    proc = subprocess.run(train_command(*args), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert f"resuming from {out / 'checkpoint-1'}" in proc.stdout
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    assert [e["step"] for e in state["log_history"] if "reward" in e] == [1, 2, 3]


@pytest.mark.slow
def test_bench_faults_two_kills_resume_to_the_uninterrupted_weights(tmp_path):
    """`make bench-faults` in small: 2 random kill -9s, reruns to the end, final weights bit-equal."""
    proc = subprocess.run([sys.executable, "-m", "scripts.bench.faults", "--kills", "2", "--steps", "4", "--seed", "1",
                           "--work", str(tmp_path / "faults")], cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 kills (seed 1)" in proc.stdout
    assert "final weights vs uninterrupted: bit-equal" in proc.stdout
