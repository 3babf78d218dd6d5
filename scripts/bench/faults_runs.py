"""How `make bench-faults` starts a CPU training run in one of three shapes, kills part of it, and times the rest.

Shapes: ``1 rank`` (one Python process), ``2 ranks`` (``torchrun --nproc_per_node 2``), ``2 nodes`` (two
``torchrun`` launchers, ``--nnodes 2 --node_rank 0|1``, one process each, meeting over the loopback at
127.0.0.1, as two machines would). Every attempt of a run is the same command; only the log files change.

The kill: SIGUSR1 to the chosen process, whose handler (``faulthandler`` in C, registered before anything
loads) writes every thread's Python stack to ``<stacks>/<pid>.txt`` and then raises SIGUSR1 again with its
default action, which terminates the process on the spot: no Python code, ``finally`` or ``atexit`` runs and
no buffer is flushed, as with ``kill -9``; and the stack is the one the process was in when it died. A node
loss is SIGKILL to that node's launcher and the same kill to each of its workers (torchrun starts its
workers in their own sessions: killing the launcher's process group alone leaves them running).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
# The worker: the stack-at-death handler first, then the kit's own `scripts.train` entry point.
LAUNCH = ("import faulthandler, os, signal, sys\n"
          "stack = open(os.path.join(os.environ['FAULTS_STACK_DIR'], f'{os.getpid()}.txt'), 'w')\n"
          "faulthandler.register(signal.SIGUSR1, file=stack, all_threads=True, chain=True)\n"
          "from scripts.train import run\n"
          "sys.exit(run(sys.argv[1:]))\n")
SHAPES = {"1 rank": (1, 1), "2 ranks": (1, 2), "2 nodes": (2, 1)}  # shape -> (nodes, processes per node)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launcher_commands(shape: str, train_args: list[str], port: int) -> list[list[str]]:
    """One command per node; the same commands start every attempt of a run."""
    worker = [sys.executable, "-c", LAUNCH, *train_args]
    nodes, per_node = SHAPES[shape]
    if shape == "1 rank":
        return [worker]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nnodes", str(nodes), "--nproc_per_node",
                str(per_node), "--master_addr", "127.0.0.1", "--master_port", str(port)]
    return [[*torchrun, "--node_rank", str(node), "--no-python", *worker] for node in range(nodes)]


@dataclass
class Attempt:
    """One attempt of a run: its launchers (one per node), their log files, and the step marker."""

    launchers: list[subprocess.Popen]
    logs: list[Path]
    marker: Path
    stacks: Path

    def steps(self) -> list[tuple[int, float]]:
        """(absolute step, time) of each training step this attempt began (the reward's marker)."""
        if not self.marker.is_file():
            return []
        rows = [line.split() for line in self.marker.read_text().splitlines()]
        return [(int(row[0]), float(row[1])) for row in rows if len(row) == 2]

    def alive(self) -> bool:
        return any(p.poll() is None for p in self.launchers)

    def workers(self) -> dict[int, psutil.Process]:
        """Training processes by global rank (the launcher itself when there is no torchrun)."""
        found = {}
        for launcher in self.launchers:
            try:
                parent = psutil.Process(launcher.pid)
                procs = parent.children() if _is_torchrun(parent) else [parent]
                for proc in procs:
                    rank = proc.environ().get("RANK", "0")
                    found[int(rank)] = proc
            except psutil.Error:
                continue
        return found

    def output(self) -> str:
        return "".join(log.read_text(errors="replace") for log in self.logs if log.is_file())


def _is_torchrun(proc: psutil.Process) -> bool:
    return "torch.distributed.run" in " ".join(proc.cmdline())


def start(commands: list[list[str]], work: Path, name: str, extra_env: dict | None = None) -> Attempt:
    marker, stacks = work / f"{name}.marker", work / f"{name}.stacks"
    stacks.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1",
               FAULTS_STEP_MARKER=str(marker), FAULTS_STACK_DIR=str(stacks), HF_HUB_DISABLE_PROGRESS_BARS="1",
               **(extra_env or {}))
    launchers, logs = [], []
    for node, command in enumerate(commands):
        log = work / (f"{name}.log" if len(commands) == 1 else f"{name}.node{node}.log")
        with open(log, "w") as handle:
            launchers.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                              start_new_session=True))
        logs.append(log)
    return Attempt(launchers, logs, marker, stacks)


def wait_for_workers(attempt: Attempt, count: int, timeout: float = 120) -> dict[int, psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and attempt.alive():
        workers = attempt.workers()
        if len(workers) == count:
            return workers
        time.sleep(0.05)
    return attempt.workers()


@dataclass
class Kill:
    """What a kill hit and how long the rest of the run lived after it."""

    target: str  # "rank 1", "node 0 (rank 0)", "the process"
    pids: list[int]
    step: int | None  # the step the run was on (the last one it began)
    at: float  # time.monotonic() of the kill
    survivors_lived: float = 0.0  # seconds from the kill until the last process of the run was gone
    left_behind: list[int] = field(default_factory=list)


def kill(attempt: Attempt, shape: str, victim: int) -> Kill:
    """Kill rank ``victim`` (1 rank, 2 ranks) or node ``victim`` (2 nodes): its launcher and its workers."""
    workers = attempt.workers()
    steps = attempt.steps()
    step = steps[-1][0] if steps else None
    if shape == "2 nodes":
        launcher = attempt.launchers[victim]
        node_workers = psutil.Process(launcher.pid).children() if launcher.poll() is None else []
        ranks = sorted(int(p.environ().get("RANK", "-1")) for p in node_workers)
        at = time.monotonic()
        launcher.send_signal(signal.SIGKILL)  # first, so it does not see its worker die and react
        for proc in node_workers:
            proc.send_signal(signal.SIGUSR1)
        return Kill(f"node {victim} (rank {', '.join(map(str, ranks))})", [launcher.pid, *[p.pid for p in node_workers]],
                    step, at)
    proc = workers[victim]
    at = time.monotonic()
    proc.send_signal(signal.SIGUSR1)
    return Kill("the process" if shape == "1 rank" else f"rank {victim}", [proc.pid], step, at)


def watch_the_end(attempt: Attempt, killed: Kill, every_pid: list[int], timeout: float) -> None:
    """Wait until every process of the attempt is gone (or ``timeout`` s after the kill); note how long that took."""
    deadline = killed.at + timeout
    while time.monotonic() < deadline:
        if not _running(every_pid) and not attempt.alive():
            break
        time.sleep(0.02)
    killed.survivors_lived = time.monotonic() - killed.at
    killed.left_behind = _running(every_pid)
    for pid in killed.left_behind:  # the bench reports them; it does not leave them to the next attempt
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for launcher in attempt.launchers:
        launcher.wait()


def _running(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            continue
    return alive


def finish(attempt: Attempt, timeout: float) -> int:
    """Wait for an attempt left to run to its end; its exit code (the worst of its launchers')."""
    deadline = time.monotonic() + timeout
    codes = []
    for launcher in attempt.launchers:
        try:
            codes.append(launcher.wait(timeout=max(deadline - time.monotonic(), 1)))
        except subprocess.TimeoutExpired:
            for proc in [launcher, *attempt.workers().values()]:
                proc.kill()
            codes.append(-9)
    return next((c for c in codes if c != 0), 0)
