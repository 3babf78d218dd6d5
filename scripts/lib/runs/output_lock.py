"""One run per ``output_dir``: rank 0 holds an exclusive lock on the folder while it trains.

Rank 0 takes an exclusive ``fcntl.flock`` on ``<output_dir>/.run.lock``; a second run started on the same
folder is refused at once, naming the holder's pid. The kernel drops the lock when its process dies, however
it dies (``kill -9`` included), so a killed run never leaves it stuck. Other ranks of the same run take no lock.
A lock on a file that is no longer the folder's lock file locks nothing: the lock is taken, then checked to
be on the file the folder has now (``_lock``).
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from scripts.lib.process.distributed import is_main
from scripts.lib.recipe.cli import UserError

LOCK_FILE = ".run.lock"


class RunInUse(UserError):
    """Another live run holds this ``output_dir``."""


@contextmanager
def hold_output_dir(output_dir: str | Path):
    """``with hold_output_dir(output_dir):`` the run's lock on its folder (rank 0 only).

    Raises ``RunInUse`` at once if another live process holds it. The lock lasts while the file
    stays open: the ``with`` block, or the process (the kernel releases it when the process dies).
    """
    if not is_main():
        yield
        return
    root = Path(output_dir)
    handle, created = _lock(root, output_dir)
    with handle:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            # A run refused before it wrote anything (a bad recipe or row) leaves no folder behind. It deletes
            # the lock file while it still holds the lock: a run that opened the file meanwhile finds, once it
            # gets the lock, that the file is gone from the folder, and starts over (``_lock``).
            if created and [p.name for p in root.iterdir()] == [LOCK_FILE]:
                (root / LOCK_FILE).unlink()
                try:
                    root.rmdir()
                except OSError:  # someone put a file there after all: the folder stays
                    pass


def _lock(root: Path, output_dir) -> tuple:
    """(open lock file, whether this run created ``root``), the lock held; ``RunInUse`` if another run holds it."""
    while True:
        created = not root.exists()
        root.mkdir(parents=True, exist_ok=True)
        handle = open(root / LOCK_FILE, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise RunInUse(
                f"output_dir {output_dir} is in use by another training run (pid {holder}): wait for it, "
                "stop it, or choose another output_dir"
            ) from None
        if _is_the_file_there(handle, root / LOCK_FILE):
            return handle, created
        handle.close()  # a run leaving the folder deleted this file after we opened it: lock the one there now


def _is_the_file_there(handle, path: Path) -> bool:
    try:
        here, there = os.fstat(handle.fileno()), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)
