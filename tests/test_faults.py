"""Faults a run must survive: a second run on the same folder, a disk that fills during a save (injected,
and a real small filesystem), a rank that dies, and what a resume leaves in the logs.

The kills at random moments (one rank, two ranks, two nodes) are ``make bench-faults``
(scripts/bench/faults.py); slow tests here run it with two kills per shape.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
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


# A run on the lock: it holds until a line arrives on stdin; with a gate file, it stops between opening the
# lock file and locking it until the gate exists (the window a leaving run's unlink can fall into).
RACER = ("import fcntl, sys, time\n"
         "from pathlib import Path\n"
         "from scripts.lib.runs.output_lock import RunInUse, hold_output_dir\n"
         "gate, real_flock = Path(sys.argv[2]), fcntl.flock\n"
         "def flock(handle, operation):\n"
         "    if sys.argv[2] != '-' and not gate.exists():\n"
         "        Path(str(gate) + '.waiting').touch()\n"
         "        while not gate.exists():\n"
         "            time.sleep(0.01)\n"
         "    return real_flock(handle, operation)\n"
         "fcntl.flock = flock\n"
         "try:\n"
         "    with hold_output_dir(sys.argv[1]):\n"
         "        print('held', flush=True)\n"
         "        sys.stdin.readline()\n"
         "except RunInUse:\n"
         "    print('refused', flush=True)\n")


def _racer(out: Path, gate: str = "-") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", RACER, str(out), gate], cwd=ROOT, env=_env(), text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def test_a_run_leaving_an_empty_folder_never_lets_two_others_hold_it(tmp_path):
    out, gate = tmp_path / "run", tmp_path / "gate"
    first = _racer(out)  # creates the folder; leaves it holding nothing but the lock file
    racers = [first]
    try:
        assert first.stdout.readline().strip() == "held"
        second = _racer(out, str(gate))
        racers.append(second)
        deadline = time.monotonic() + 60
        while not Path(f"{gate}.waiting").exists():  # the second has the lock file open, not yet locked
            assert time.monotonic() < deadline and second.poll() is None
            time.sleep(0.01)
        first.communicate("\n", timeout=60)  # the first leaves: it deletes the lock file and the folder
        assert not out.exists()
        gate.touch()
        assert second.stdout.readline().strip() == "held"
        third = _racer(out)
        racers.append(third)
        # Before the fix the second held a lock on the deleted file, and the third locked a new one: both ran.
        assert third.stdout.readline().strip() == "refused"
        assert (out / ".run.lock").read_text() == f"{second.pid}\n"
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
                racer.wait()


# ---------------------------------------------------------------- disk full during a save

def test_disk_full_errors_become_one_line_naming_the_folder_and_its_free_space(tmp_path):
    from scripts.lib.runs.disk import _free_bytes, _human, disk_full_error

    line = disk_full_error(OSError(errno.ENOSPC, "No space left on device"), tmp_path)
    assert line.startswith(f"disk full while writing to {tmp_path} ({_human(_free_bytes(tmp_path))} free there); "
                           "no complete checkpoint was saved yet: free some space")
    # torch.save's zip writer and safetensors carry the OS text in their own exception types
    assert disk_full_error(RuntimeError("[enforce fail] file write failed: No space left on device"), tmp_path)
    # What torch.save raised on a real full tmpfs (the zip writer's short write); counted only on a nearly full disk
    short_write = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 6400 vs 6292")
    assert (disk_full_error(short_write, tmp_path) is not None) == (_free_bytes(tmp_path) < 64 * 2**20)
    assert disk_full_error(OSError(errno.EACCES, "Permission denied"), tmp_path) is None
    assert disk_full_error(ValueError("a bug"), tmp_path) is None
    assert _human(1536) == "1.5 KiB" and _human(10) == "10 B"


# What a 3-step run prints on stdout when all is well: anything else there is part of a failure's output.
NORMAL_STDOUT = re.compile(r"data: |step \d+/3 \||held-out before")


@pytest.fixture(scope="module")
def disk_full_run(tiny_model_dir, tmp_path_factory):
    """A 3-step run, a checkpoint per step, whose checkpoint-2 save hits ENOSPC in torch.save (the optimizer)."""
    from test_stop_resume import run_args

    out = tmp_path_factory.mktemp("diskfull") / "run"
    args = run_args(tiny_model_dir, out, "--save_steps", "1", "--max_steps", "3")
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "enospc_train.py"), *args], cwd=ROOT,
                          env=_env(ENOSPC_AT="checkpoint-2/optimizer.pt", HF_HUB_DISABLE_PROGRESS_BARS="1"),
                          capture_output=True, text=True, timeout=900)
    return out, args, proc


def test_a_full_disk_during_a_save_stops_the_run_in_one_line_and_keeps_the_previous_checkpoint(disk_full_run):
    from scripts.lib.runs.resume import checkpoint_problem, last_complete_checkpoint

    out, _, proc = disk_full_run
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    errors = proc.stderr.splitlines()  # the whole of it (progress bars off): no warning before the one line
    assert len(errors) == 1, proc.stderr[-3000:]
    assert errors[0].startswith(f"error: disk full while writing to {out} (")
    assert f"the newest complete checkpoint, {out / 'checkpoint-1'}, is intact" in errors[0]
    assert all(NORMAL_STDOUT.match(line) for line in proc.stdout.splitlines() if line.strip()), proc.stdout
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


# ---------------------------------------------------------------- a real full disk

@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs of its own (root, or CAP_SYS_ADMIN); skipped, with mount's own words, where refused."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no `mount` command: cannot make a small filesystem for the full-disk test")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], capture_output=True,
                          text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a small filesystem here (mount -t tmpfs: {made.stderr.strip() or made.returncode})")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)



@pytest.mark.slow
def test_a_real_full_disk_stops_the_run_in_one_line_and_the_previous_checkpoint_resumes_to_the_end(
        tiny_model_dir, small_disk):
    """The disk fills during checkpoint-2's save (a file takes all but half a checkpoint once step 2 began)."""
    from test_stop_resume import run_args

    out, filler, marker = small_disk / "run", small_disk / "filler", small_disk.parent / "steps"
    args = run_args(tiny_model_dir, out, "--save_steps", "1", "--max_steps", "3")
    env = _env(SLOW_REWARD_MARKER=str(marker), SLOW_REWARD_SECONDS="2", HF_HUB_DISABLE_PROGRESS_BARS="1")
    run = subprocess.Popen(train_command(*args), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        deadline = time.monotonic() + 600
        # Step 2 has begun (its reward sleeps 2 s) and checkpoint-1 is whole: leave half a checkpoint free.
        while not ((out / "checkpoint-1" / "trainer_state.json").is_file() and marker.is_file()
                   and len(marker.read_text().splitlines()) >= 2):
            assert time.monotonic() < deadline and run.poll() is None, "the run ended before step 2"
            time.sleep(0.02)
        checkpoint = sum(p.stat().st_size for p in (out / "checkpoint-1").iterdir())
        with open(filler, "wb") as handle:
            os.posix_fallocate(handle.fileno(), 0, shutil.disk_usage(small_disk).free - checkpoint // 2)
        stdout, stderr = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 2, stdout[-2000:] + stderr[-3000:]
    # The whole of stderr: one line. Nothing else anywhere but the run's normal lines.
    assert stderr.splitlines() == [stderr.splitlines()[0]] and stderr.startswith(
        f"error: disk full while writing to {out} ("), stderr
    assert f"the newest complete checkpoint, {out / 'checkpoint-1'}, is intact" in stderr
    assert all(NORMAL_STDOUT.match(line) for line in stdout.splitlines() if line.strip()), stdout
    from scripts.lib.runs.resume import checkpoint_problem

    assert checkpoint_problem(out / "checkpoint-2") is not None  # the save that failed is incomplete

    filler.unlink()  # "free some space"
    proc = subprocess.run(train_command(*args), cwd=ROOT, env=_env(HF_HUB_DISABLE_PROGRESS_BARS="1"),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert f"resuming from {out / 'checkpoint-1'}" in proc.stdout
    assert json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())["global_step"] == 3


# ---------------------------------------------------------------- what a resume does to the logs

def test_records_past_the_resumed_step_are_dropped_and_a_line_cut_by_a_kill_too(tmp_path):
    from scripts.lib.runs.resume_logs import keep_records_up_to

    path = tmp_path / "eval_history.jsonl"
    path.write_text('{"step": 3, "a": 1}\n{"step": 6, "a": 2}\n{"step": 9, "a": 3}\n{"step": 12, "a"')
    keep_records_up_to(path, 6)
    assert path.read_text() == '{"step": 3, "a": 1}\n{"step": 6, "a": 2}\n'


# ---------------------------------------------------------------- a rank that dies

def test_a_collective_failing_because_a_rank_died_is_said_in_one_line_naming_it(monkeypatch):
    import socket

    from scripts.lib.process import distributed

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its pid is free now: a rank that died
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setattr(distributed, "_ROSTER", [(socket.gethostname(), os.getpid()), (socket.gethostname(), gone.pid)])
    gloo = RuntimeError("[gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:9604: Connection reset by peer")
    assert distributed.lost_peer_reason(gloo) == (
        f"rank 1 (pid {gone.pid}) has died, so this rank cannot go on; it stops too. Rerun the same command to "
        "resume from the newest complete checkpoint")
    monkeypatch.setattr(distributed, "_ROSTER", [(socket.gethostname(), os.getpid()), ("other-machine", 1)])
    assert distributed.lost_peer_reason(gloo).startswith(
        "a rank on another machine stopped answering (Connection reset by peer)")
    assert distributed.lost_peer_reason(ValueError("a bug")) is None  # nobody died: not this case
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed.lost_peer_reason(gloo) is None


# A survivor: rank 0 of 2 whose rank 1 has died, in training (GracefulStop's handler on) or not, when torchrun's
# SIGTERM comes before any collective has failed.
SURVIVOR = ("import contextlib, os, socket, subprocess, sys, time\n"
            "from scripts.lib.process import distributed\n"
            "from scripts.lib.runs.stopping import GracefulStop, stop_on_lost_peer\n"
            "gone = subprocess.Popen([sys.executable, '-c', 'pass'])\n"
            "gone.wait()\n"
            "distributed._ROSTER[:] = [(socket.gethostname(), os.getpid()), (socket.gethostname(), gone.pid)]\n"
            "training = GracefulStop().installed() if sys.argv[1] == 'training' else contextlib.nullcontext()\n"
            "with stop_on_lost_peer(), training:\n"
            "    print(gone.pid, flush=True)\n"
            "    time.sleep(60)\n")


@pytest.mark.parametrize("phase", ["training", "loading"])
def test_torchrun_s_sigterm_after_a_rank_died_ends_a_survivor_at_once_in_one_line(phase):
    survivor = subprocess.Popen([sys.executable, "-c", SURVIVOR, phase], cwd=ROOT, env=_env(WORLD_SIZE="2", RANK="0"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        dead = survivor.stdout.readline().strip()
        survivor.send_signal(signal.SIGTERM)
        _, stderr = survivor.communicate(timeout=30)  # GracefulStop alone would finish a step that never comes
    finally:
        if survivor.poll() is None:
            survivor.kill()
            survivor.wait()
    assert survivor.returncode == 2
    assert stderr.splitlines() == [f"error (rank 0): rank 1 (pid {dead}) has died, so this rank cannot go on; it stops "
                                   "too. Rerun the same command to resume from the newest complete checkpoint"]


# ---------------------------------------------------------------- make bench-faults, in small

@pytest.mark.slow
@pytest.mark.parametrize("shape, seed", [([], 1), (["--nproc", "2"], 0), (["--nnodes", "2"], 1)],
                         ids=["1 rank", "2 ranks", "2 nodes"])
def test_bench_faults_kills_resume_to_the_uninterrupted_weights_with_every_step_logged_once(tmp_path, shape, seed):
    """`make bench-faults` in small: 2 kills per shape, reruns to the end, every check of the bench passes."""
    proc = subprocess.run([sys.executable, "-m", "scripts.bench.faults", *shape, "--kills", "2", "--seed", str(seed),
                           "--work", str(tmp_path / "faults")], cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"2 kills (seed {seed})" in proc.stdout
    assert "kills that happened: 2 of 2; every resume reached the end: yes; final weights vs uninterrupted: " \
           "bit-equal" in proc.stdout
    assert "none missing, none twice" in proc.stdout
    if shape:
        assert "kills whose survivors did not name the dead rank: none" in proc.stdout


def test_bench_faults_refuses_a_work_folder_it_did_not_make(tmp_path):
    from scripts.bench.faults import WORK_MARK, fresh_work_folder
    from scripts.lib.recipe.cli import UserError

    mine = tmp_path / "runs"
    (mine / "precious").mkdir(parents=True)
    with pytest.raises(UserError, match="was not made by bench-faults"):
        fresh_work_folder(mine)
    assert (mine / "precious").is_dir()  # nothing deleted
    fresh_work_folder(tmp_path / "new")
    (tmp_path / "new" / "old-run").mkdir()
    fresh_work_folder(tmp_path / "new")  # its own folder: replaced
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == [WORK_MARK]


DUMP = """Current thread 0x00007f01 (most recent call first):
  File "/x/torch/utils/data/_utils/pin_memory.py", line 55 in _pin_memory_loop
  File "/x/threading.py", line 1002 in _bootstrap

Thread 0x00007f02 (most recent call first):
  File "/x/transformers/models/qwen2/modeling_qwen2.py", line 300 in forward
  File "/x/transformers/generation/utils.py", line 2500 in generate
  File "/x/scripts/lib/models/sampling.py", line 80 in sample_completions
  File "/x/scripts/lib/evaluation/scoring.py", line 40 in evaluate
  File "/x/transformers/trainer_callback.py", line 500 in on_step_end
  File "/x/transformers/trainer.py", line 1600 in _inner_training_loop
  File "<string>", line 5 in <module>"""


def test_a_kill_is_placed_by_the_innermost_frame_of_the_main_thread():
    from scripts.bench.faults_checks import landed

    # The main thread is the one that started in <module>, whichever thread took the signal; its innermost
    # frame that names a phase decides (the old bench took the first phase of its list found anywhere).
    assert landed(DUMP) == ("generation (held-out scoring)", "modeling_qwen2.py:forward")
    assert landed(DUMP.replace("in generate", "in helper")) == ("held-out scoring", "modeling_qwen2.py:forward")
    assert landed("")[0].startswith("no stack")


def test_the_re_done_column_counts_absolute_steps():
    from scripts.bench.faults import steps_redone

    assert steps_redone(last_begun=14, resumed_from="checkpoint-11") == 3
    assert steps_redone(last_begun=14, resumed_from="checkpoint-14") == 0
    assert steps_redone(last_begun=2, resumed_from="fresh start") == 2
