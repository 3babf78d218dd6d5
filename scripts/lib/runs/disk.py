"""A full disk: a save that fails for want of space becomes one line naming the folder and its free
space; the checkpoint it was writing is incomplete, so a resume skips it.
"""

from __future__ import annotations

import errno
import shutil
from contextlib import contextmanager
from pathlib import Path

from scripts.lib.recipe.cli import UserError
from scripts.lib.runs.resume import last_complete_checkpoint

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def disk_full_error(err: BaseException, output_dir: str | Path) -> str | None:
    """One line for a write that failed for want of space (None for any other error).

    ``OSError(ENOSPC/EDQUOT)`` from Python's writers; torch.save and safetensors report the same
    failure as their own ``RuntimeError`` / ``SafetensorError`` whose text carries the OS message.
    """
    is_full = isinstance(err, OSError) and err.errno in DISK_FULL_ERRNOS
    text = str(err)
    is_full = is_full or "No space left on device" in text or "Disk quota exceeded" in text
    if not is_full:
        # torch's zip writer says only "file write failed", or, when a write came up short, "unexpected pos
        # <written> vs <expected>" (what a real full tmpfs gives): a full disk only if it nearly is.
        is_full = (("file write failed" in text or "unexpected pos" in text)
                   and _free_bytes(output_dir) < 64 * 2**20)
    if not is_full:
        return None
    free = _free_bytes(output_dir)
    checkpoint = last_complete_checkpoint(output_dir, warn=False)  # the line names the one it keeps: one line
    keep = (f"the newest complete checkpoint, {checkpoint}, is intact" if checkpoint else
            "no complete checkpoint was saved yet")
    return (f"disk full while writing to {output_dir} ({_human(free)} free there); {keep}: free some space "
            "and rerun the same command to resume (a half-written checkpoint is skipped)")


def _free_bytes(path: str | Path) -> int:
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def _human(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


class DiskFull(UserError):
    """A write in ``output_dir`` failed for want of space (one line, exit 2)."""


@contextmanager
def stop_on_full_disk(output_dir: str | Path):
    """Around ``trainer.train()`` and the final save: a full disk becomes ``DiskFull`` (one line, exit 2)."""
    try:
        yield
    except Exception as err:  # noqa: BLE001 - re-raised unchanged unless it is a full disk
        line = disk_full_error(err, output_dir)
        if line is None:
            raise
        raise DiskFull(line) from err
