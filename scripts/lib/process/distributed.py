"""Several processes (``make train NPROC=2``, ``accelerate launch``): who prints, who does which share.

The launchers set ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` before Python starts, so ``rank()`` and
``is_main()`` work before the trainer sets up ``torch.distributed`` (creating accelerate's state early
would fix it before the recipe's settings are read). The one console: every line a person reads is
printed by rank 0 (``scripts.lib.process.console.say``), except a rank's own error, which names the rank (``error_prefix``).
"""

from __future__ import annotations

import os


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
