"""Several processes (``make train NPROC=2``, ``accelerate launch``): who prints, who does which share.

The launchers set ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` before Python starts, so ``rank()`` and
``is_main()`` work before the trainer sets up ``torch.distributed`` (creating accelerate's state early
would fix it before the recipe's settings are read). The one console: every line a person reads is
printed by rank 0 (``scripts.lib.process.console.say``), except a rank's own error, which names the rank (``error_prefix``).
"""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    return rank() == 0



def error_prefix() -> str:
    """``error`` on one process; ``error (rank 1)`` on several, so a line says whose it is."""
    return f"error (rank {rank()})" if world_size() > 1 else "error"


def quiet_other_ranks() -> None:
    """Progress bars and info logs of transformers/datasets on rank 0 only (others: warnings and errors)."""
    if is_main():
        return
    import logging

    import datasets
    import transformers

    logging.getLogger().setLevel(logging.WARNING)
    transformers.utils.logging.set_verbosity_warning()
    transformers.utils.logging.disable_progress_bar()
    datasets.utils.logging.disable_progress_bar()


def share(n: int, ranks: int | None = None, of: int | None = None) -> tuple[int, int, int]:
    """(start, stop, size) of rank ``of``'s share of ``n`` items: contiguous, every rank the same
    ``size`` (the last ones padded), so ranks make the same number of ``generate`` calls.

    >>> [share(5, 2, r) for r in (0, 1)], share(1, 2, 1)
    ([(0, 3, 3), (3, 5, 3)], (1, 1, 1))
    """
    ranks = world_size() if ranks is None else ranks
    of = rank() if of is None else of
    size = -(-n // ranks)
    start = min(n, of * size)
    return start, min(n, start + size), size


def gather(obj) -> list:
    """Every rank's ``obj``, in rank order, on every rank (``all_gather_object``); ``[obj]`` on one process."""
    if world_size() == 1:
        return [obj]
    import torch.distributed as dist

    if not dist.is_initialized():  # make eval under torchrun: no trainer has set it up
        from accelerate import PartialState

        PartialState()
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def shut_down() -> None:
    """End the process group, if any, once every rank is done: a process that exits with gloo's threads
    still running can die in C++ ("terminate called without an active exception") instead of exiting 0."""
    if world_size() == 1:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def lockstep_generation() -> bool:
    """Whether ``generate`` must run in lockstep on every rank (``synced_gpus``): parameters sharded
    across processes (DeepSpeed ZeRO-3, FSDP), where each forward needs every rank. TRL and
    transformers decide it the same way."""
    if world_size() == 1:
        return False
    from transformers.integrations import is_deepspeed_zero3_enabled

    return bool(is_deepspeed_zero3_enabled()) or os.environ.get("ACCELERATE_USE_FSDP", "").lower() in ("1", "true")


# ----------------------------------------------------------------------------- a peer that died

# Every rank's (host, pid), gathered once training is set up: which rank to name when one dies.
_ROSTER: list[tuple[str, int]] = []
# What gloo (and the c10d store) say when the other end of a connection went away mid-collective.
PEER_GONE = re.compile(r"Connection (?:reset|closed) by peer|Broken pipe|Connection refused|"
                       r"Socket Timeout|timed out|Timed out")


def remember_peers() -> None:
    """Call on every rank once the process group is up (after the trainer is built)."""
    if world_size() > 1:
        _ROSTER[:] = [tuple(entry) for entry in gather((socket.gethostname(), os.getpid()))]


def _alive(pid: int) -> bool:
    try:  # a killed child of torchrun is a zombie until torchrun reaps it: dead already
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return False
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def dead_peers(wait: float = 0.0) -> list[tuple[int, int]]:
    """(rank, pid) of the ranks on this machine whose process is gone, waiting up to ``wait`` s for one to
    show (a killed process closes its sockets a moment before it is counted dead)."""
    host, deadline = socket.gethostname(), time.monotonic() + wait
    while True:
        dead = [(r, pid) for r, (h, pid) in enumerate(_ROSTER) if h == host and r != rank() and not _alive(pid)]
        if dead or time.monotonic() >= deadline:
            return dead
        time.sleep(0.05)


def dead_peer_reason() -> str | None:
    """One line naming the ranks of this machine that died, if any did (a signal handler asks: no waiting)."""
    dead = dead_peers() if world_size() > 1 else []
    return _dead_line(dead) if dead else None


def _dead_line(dead: list[tuple[int, int]]) -> str:
    return _lost_line(", ".join(f"rank {r} (pid {pid})" for r, pid in dead) + (" has" if len(dead) == 1 else " have")
                      + " died")


def _lost_line(who: str) -> str:
    return (f"{who}, so this rank cannot go on; it stops too. Rerun the same command to resume from the newest "
            "complete checkpoint")


def lost_peer_reason(err: BaseException) -> str | None:
    """Why ``err`` ended this rank, if it is another rank's death (one line naming that rank), else None."""
    if world_size() == 1:
        return None
    text = str(err)
    gone = PEER_GONE.search(text)
    dead = dead_peers(wait=2.0 if gone else 0.0)
    if not dead and not gone:
        return None
    if dead:
        return _dead_line(dead)
    elsewhere = any(host != socket.gethostname() for host, _ in _ROSTER)
    return _lost_line(f"{'a rank on another machine' if elsewhere else 'another rank'} stopped answering "
                      f"({gone.group(0)})")
