"""Build a folder once, whole: one process builds it while the others wait, and no reader sees half of it.

Anything the kit builds or converts once and then reads (the tiny base, a converted model, a
dataset folder) goes through ``build_once(target, is_done, build)``:

* the build writes into a fresh temporary folder next to ``target`` (same parent, so same file
  system), which is then renamed to ``target``: a reader finds the old folder, no folder, or the
  finished one, never a half-written one, and a build killed halfway leaves only a ``.building-*``
  folder that the next build clears away;
* separate runs that start together take turns on an exclusive ``fcntl.flock`` on ``.<name>.lock``
  next to ``target``; the first builds, the next finds it done. The kernel drops the lock when its
  process dies, so a crashed build never blocks the next (the lock file itself is left, harmless);
* inside one multi-process run (torchrun / accelerate: ``LOCAL_RANK`` > 0) the other processes of
  the machine do not race local rank 0 for the lock: they wait until ``is_done(target)``, so the
  build, and everything it prints, happens once, on the rank that prints (torchrun ends them if
  rank 0 fails).
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

POLL_SECONDS = 0.5


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
               on_build: Callable[[], None] | None = None) -> bool:
    """Make ``is_done(target)`` true, building at most once; True when this process built it.

    ``build(folder)`` writes everything into ``folder`` (an empty temporary folder); ``on_build`` runs
    just before, in the building process only (a "building ..." line). A stale ``target`` (present
    but not ``is_done``) is replaced whole.
    """
    target = Path(target)
    if is_done(target):
        return False
    if local_rank() > 0:
        while not is_done(target):
            time.sleep(POLL_SECONDS)
        return False
    with folder_lock(target):
        if is_done(target):  # another run built it while this one waited for the lock
            return False
        for leftover in target.parent.glob(f".{target.name}.building-*"):  # builds killed halfway
            shutil.rmtree(leftover, ignore_errors=True)
        if on_build is not None:
            on_build()
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
        try:
            build(tmp)
            replace_folder(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return True


def replace_folder(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``; an existing ``target`` is moved aside first, then deleted."""
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / "folder")
        os.replace(source, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, target)
