"""Test-only launcher: ``scripts.train`` with one file write that fails for want of space.

``ENOSPC_AT=checkpoint-2/optimizer.pt python tests/enospc_train.py <train flags>``: the ``torch.save``
whose path ends with ``ENOSPC_AT`` writes half its bytes, then raises ``OSError(ENOSPC)``, as a full
disk does. Nothing in the kit knows about this file; tests/test_faults.py runs it.
"""

from __future__ import annotations

import errno
import io
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_real_save = torch.save


def _save(obj, f, *args, **kwargs):
    if isinstance(f, (str, os.PathLike)) and str(f).endswith(os.environ["ENOSPC_AT"]):
        buffer = io.BytesIO()
        _real_save(obj, buffer, *args, **kwargs)
        Path(f).write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(f))
    return _real_save(obj, f, *args, **kwargs)


if __name__ == "__main__":  # only when launched: pytest's --doctest-modules imports this file too
    torch.save = _save

    from scripts.train import run  # after the patch, which transformers' `torch.save` calls see

    sys.exit(run())
