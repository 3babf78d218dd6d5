"""Build a folder once, whole: one process builds it while the others wait, and no reader sees half of it.

The tiny base, an export and the fault bench's model go through ``build_once(target, is_done, build)``
(``gguf_convert`` and ``qwen_tokenizers`` write into a temporary folder and rename it the same way, without
the lock):

* the build writes into a fresh temporary folder next to ``target`` (same parent, so same file
  system), which is then renamed to ``target``: a reader finds the old folder, no folder, or the
  finished one, never a half-written one, and a build killed halfway leaves only a ``.building-*``
  folder that the next build clears away;
* separate runs that start together take turns on an exclusive ``fcntl.flock`` on ``.<name>.lock``
  next to ``target``; the first builds, the next finds it done. The kernel drops the lock when its
  process dies, so a crashed build never blocks the next (the lock file itself is left, harmless);
* inside one multi-process run (torchrun / accelerate: ``LOCAL_RANK`` > 0) the other processes of
  the machine do not race local rank 0 for the lock: they wait until ``is_done(target)``, so the
  build, and everything it prints, happens once, on the rank that prints. They wait a bounded time for
  the build to begin, whatever the launcher does: each poll also tries the lock without blocking. Taken by someone, a
  build is under way; free again after it was taken and the folder still not done, the builder died
  or failed (``BuildAbandoned``); never taken within ``start_timeout`` seconds, no builder came;
* a build killed while it swapped folders (``replace_folder``) can leave the old one moved aside in
  ``.<name>.old-*``: the next call clears it, done or not (the folder only ever goes away).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from scripts.lib.process.distributed import local_rank
from scripts.lib.recipe.cli import UserError

POLL_SECONDS = 0.5
# How long a rank > 0 waits for local rank 0 to take the build's lock: it gets there after loading the data
# and the rewards, the same work every rank has just done, so minutes cover any machine.
START_TIMEOUT = 600.0


class BuildAbandoned(UserError):
    """Local rank 0 was to build the folder another rank waits for, and stopped (or never began)."""


@contextmanager
def folder_lock(target: str | Path):
    """An exclusive lock on ``target`` across processes (``.<name>.lock`` beside it), held while inside."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_once(target: str | Path, is_done: Callable[[Path], bool], build: Callable[[Path], object],
               on_build: Callable[[], None] | None = None, start_timeout: float | None = None) -> bool:
    """Make ``is_done(target)`` true, building at most once; True when this process built it.

    ``build(folder)`` writes everything into ``folder`` (an empty temporary folder); ``on_build`` runs
    just before, in the building process only (a "building ..." line). A stale ``target`` (present
    but not ``is_done``) is replaced whole. A rank > 0 waits at most ``start_timeout`` seconds (default
    ``START_TIMEOUT``) for local rank 0 to begin, then as long as its build goes on.
    """
    target = Path(target)
    if local_rank() == 0:
        _clear(target, "old")
    if is_done(target):
        return False
    if local_rank() > 0:
        _wait_for_builder(target, is_done, START_TIMEOUT if start_timeout is None else start_timeout)
        return False
    with folder_lock(target):
        if is_done(target):  # another run built it while this one waited for the lock
            return False
        _clear(target, "building")  # builds killed halfway (only ever by a holder of the lock: none is running)
        if on_build is not None:
            on_build()
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
        try:
            build(tmp)
            replace_folder(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return True


def _clear(target: Path, kind: str) -> None:
    for leftover in target.parent.glob(f".{target.name}.{kind}-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _lock_is_held(target: Path) -> bool:
    """Whether some process holds ``target``'s build lock now (tried without waiting, released at once)."""
    lock = target.parent / f".{target.name}.lock"
    if not lock.is_file():
        return False
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _wait_for_builder(target: Path, is_done: Callable[[Path], bool], start_timeout: float) -> None:
    started, seen_building = time.monotonic(), False
    while not is_done(target):
        if _lock_is_held(target):
            seen_building = True
        elif seen_building and not is_done(target):
            raise BuildAbandoned(f"local rank 0 stopped building {target} before it was done (its process died or "
                                 "failed: see its output); rerun, the next build starts over")
        elif time.monotonic() - started > start_timeout:
            raise BuildAbandoned(f"waited {start_timeout:.0f} s for local rank 0 to build {target}, and it never "
                                 "began (did it stop early?)")
        time.sleep(POLL_SECONDS)


def replace_folder(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``; an existing ``target`` is moved aside first, then deleted."""
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / "folder")
        os.replace(source, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, target)
