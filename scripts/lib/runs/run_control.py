"""Stop, resume, keep: a run that is interrupted loses at most the step it was on.

* ``GracefulStop`` (a ``TrainerCallback``): the first Ctrl-C / SIGTERM lets the current optimizer
  step finish, saves ``checkpoint-<step>`` through the Trainer's own checkpointing (model,
  optimizer, scheduler, RNG, trainer state), ends training so TensorBoard's writer is closed, and
  ``scripts/train.py`` then prints the checkpoint and the resume command and exits 130 / 143.
  A second signal exits at once, without saving.
* ``checkpoint_problem`` / ``last_complete_checkpoint``: a checkpoint is used only if every file
  the Trainer reads back is whole. HF Trainer writes ``trainer_state.json`` last, but with a plain
  ``open(..., "w")`` (not atomically), and nothing is fsync'ed, so a kill or a power loss can leave
  a missing or truncated state file, or truncated / zero-length weights after a crash.
* ``resolve_resume``: the recipe's ``resume: auto | never | <checkpoint path>``.
* ``hold_output_dir``: one run per ``output_dir``. Rank 0 takes an exclusive ``fcntl.flock`` on
  ``<output_dir>/.run.lock``; a second run started on the same folder is refused at once, naming the
  holder's pid. The kernel drops the lock when its process dies, however it dies (``kill -9``
  included), so a killed run never leaves it stuck. Other ranks of the same run take no lock.
* ``disk_full_error``: a save that fails for want of space becomes one line naming the folder and
  its free space; the checkpoint it was writing is incomplete, so a resume skips it.

What resuming loads, and why that is safe: ``model.safetensors`` (safetensors: raw tensors, no
code), ``trainer_state.json`` and ``config.json`` (JSON), and ``optimizer.pt``, ``scheduler.pt``,
``rng_state.pth`` (``scaler.pt`` with fp16), which transformers 5 reads with
``torch.load(weights_only=True)``: tensors, numbers and containers only (plus numpy's RNG types,
allow-listed), never arbitrary pickled objects. ``training_args.bin`` is a full pickle; the
Trainer writes it but neither it nor this kit ever loads it. The completeness checks below read
file headers only and unpickle nothing. These are files your own run wrote into your own
``output_dir``; a ``resume: <path>`` from elsewhere goes through the same ``weights_only`` loads.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import shlex
import signal
import sys
import threading
import zipfile
from contextlib import contextmanager
from pathlib import Path

from transformers import TrainerCallback

from scripts.lib.recipe.cli import UserError
from scripts.lib.recipe.config import RecipeError

# Files a finished run leaves at the top of output_dir; starting over would overwrite them.
FINAL_MODEL_FILES = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors",
                     "pytorch_model.bin")


def _is_main_rank() -> bool:
    return os.environ.get("RANK", "0") == "0"


LOCK_FILE = ".run.lock"


class RunInUse(UserError):
    """Another live run holds this ``output_dir``."""


@contextmanager
def hold_output_dir(output_dir: str | Path):
    """``with hold_output_dir(output_dir):`` the run's lock on its folder (rank 0 only).

    Raises ``RunInUse`` at once if another live process holds it. The lock lasts while the file
    stays open: the ``with`` block, or the process (the kernel releases it when the process dies).
    """
    if not _is_main_rank():
        yield
        return
    root = Path(output_dir)
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK_FILE, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunInUse(
                f"output_dir {output_dir} is in use by another training run (pid {holder}): wait for it, "
                "stop it, or choose another output_dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            # A run refused before it wrote anything (a bad recipe or row) leaves no folder behind.
            if created and [p.name for p in root.iterdir()] == [LOCK_FILE]:
                (root / LOCK_FILE).unlink()
                root.rmdir()


def _checkpoint_step(path: Path) -> int | None:
    suffix = path.name.rpartition("-")[2]
    return int(suffix) if path.name.startswith("checkpoint-") and suffix.isdigit() else None


def _safetensors_problem(path: Path) -> str | None:
    from safetensors import safe_open

    try:
        # safe_open validates the header and that the file is as long as the header says.
        with safe_open(str(path), framework="pt"):
            return None
    except Exception:  # noqa: BLE001 - safetensors raises its own error types for every kind of damage
        return f"{path.name} is truncated or corrupt"


def _torch_file_problem(path: Path) -> str | None:
    # torch.save writes a zip archive whose central directory comes last: a truncated file has none.
    try:
        with zipfile.ZipFile(path) as archive:
            end = max((info.header_offset + info.compress_size for info in archive.infolist()), default=0)
    except (zipfile.BadZipFile, OSError):
        return f"{path.name} is truncated or corrupt"
    return None if end <= path.stat().st_size else f"{path.name} is truncated or corrupt"


def _json_problem(path: Path) -> str | None:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"{path.name} is truncated or not valid JSON"
    return None


def checkpoint_problem(path: str | Path) -> str | None:
    """Why ``path`` must not be resumed from (one short phrase), or None if it is complete.

    >>> checkpoint_problem("/nonexistent/checkpoint-3")
    'not a folder'
    """
    path = Path(path)
    if not path.is_dir():
        return "not a folder"
    state_file = path / "trainer_state.json"
    if not state_file.is_file():
        return "no trainer_state.json: its save did not finish"
    if problem := _json_problem(state_file):
        return problem
    state = json.loads(state_file.read_text(encoding="utf-8"))
    step = _checkpoint_step(path)
    if not isinstance(state, dict) or (step is not None and state.get("global_step") != step):
        return f"trainer_state.json does not describe step {step}"

    index = path / "model.safetensors.index.json"
    weights = [path / name for name in ("model.safetensors", "adapter_model.safetensors") if (path / name).is_file()]
    if index.is_file():
        if problem := _json_problem(index):
            return problem
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values()))
        missing = [s for s in shards if not (path / s).is_file()]
        if missing:
            return f"weight shard {missing[0]} is missing"
        weights += [path / s for s in shards]
    # DeepSpeed and FSDP keep the weights in their own sub-folders; their loaders check those.
    sharded_elsewhere = any(p.is_dir() and (p.name.startswith("global_step") or p.name.startswith("pytorch_model_fsdp"))
                            for p in path.iterdir())
    if not weights and not (path / "pytorch_model.bin").is_file() and not sharded_elsewhere:
        return "no model weights"
    for file in weights:
        if problem := _safetensors_problem(file):
            return problem
    for file in sorted(path.iterdir()):
        if file.is_file() and file.suffix in (".pt", ".pth", ".bin") and file.name != "training_args.bin":
            if problem := _torch_file_problem(file):
                return problem
        elif file.is_file() and file.suffix == ".json" and file.name != "trainer_state.json":
            if problem := _json_problem(file):
                return problem
    return None


def last_complete_checkpoint(output_dir: str | Path) -> str | None:
    """The newest ``checkpoint-N`` in ``output_dir`` that passes ``checkpoint_problem``.

    Each newer, incomplete one is skipped with a one-line warning and never loaded.
    """
    root = Path(output_dir)
    if not root.is_dir():
        return None
    checkpoints = sorted((p for p in root.iterdir() if p.is_dir() and _checkpoint_step(p) is not None),
                         key=_checkpoint_step, reverse=True)
    for checkpoint in checkpoints:
        problem = checkpoint_problem(checkpoint)
        if problem is None:
            return str(checkpoint)
        if _is_main_rank():
            print(f"warning: skipping incomplete checkpoint {checkpoint} ({problem})", file=sys.stderr)
    return None


def resolve_resume(resume: str, output_dir: str) -> str | None:
    """The checkpoint to resume from, or None to start fresh; a ``RecipeError`` if neither is safe.

    ``auto``: the newest complete checkpoint in ``output_dir``; with none, start fresh, unless
    ``output_dir`` holds a finished model that a fresh run would overwrite. ``never``: start fresh,
    and refuse a non-empty ``output_dir``. Anything else: that checkpoint folder, if complete.
    """
    root = Path(output_dir)
    if resume == "never":
        if root.is_dir() and any(p.name != LOCK_FILE for p in root.iterdir()):
            raise RecipeError(
                f"output_dir {output_dir} is not empty and resume is `never`: choose a new output_dir, delete "
                f"{output_dir}, or set resume: auto to continue from its last complete checkpoint"
            )
        return None
    if resume == "auto":
        checkpoint = last_complete_checkpoint(output_dir)
        if checkpoint is None and root.is_dir():
            finished = [name for name in FINAL_MODEL_FILES if (root / name).is_file()]
            if finished:
                raise RecipeError(
                    f"output_dir {output_dir} holds a finished model ({finished[0]}) and no complete checkpoint to "
                    "resume from: choose a new output_dir or delete the old run, so it is not overwritten"
                )
        return checkpoint
    if not Path(resume).is_dir():
        raise RecipeError(f"resume: checkpoint {resume} not found (use auto, never, or a checkpoint-N folder)")
    if problem := checkpoint_problem(resume):
        raise RecipeError(f"resume: {resume} is not a complete checkpoint ({problem}); pick an earlier checkpoint-N")
    return resume


def finished_message(checkpoint: str, max_steps: int, output_dir: str) -> str | None:
    """A note if ``checkpoint`` already reached the planned steps, else None.

    HF Trainer, resumed from a checkpoint at ``max_steps``, still trains one more step; so a
    finished run is not handed back to it. Raise ``max_steps`` to train on.
    """
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8"))
    planned = max_steps if max_steps > 0 else state.get("max_steps", 0)
    if state["global_step"] < planned:
        return None
    final = next((name for name in FINAL_MODEL_FILES if (Path(output_dir) / name).is_file()), None)
    keep = (f"final model: {output_dir}" if final else
            f"keep it with: make export CKPT={checkpoint} OUT=<folder>")
    return (f"nothing to train: {checkpoint} is at step {state['global_step']} of max_steps {planned}; {keep} "
            "(raise max_steps to train on, or choose a new output_dir to start over)")


def resume_command(argv: list[str], checkpoint: str) -> str:
    """The command that continues this run from ``checkpoint``: the same flags, ``--resume`` replaced."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--resume", "--resume_from_checkpoint"):
            skip = True
            continue
        if arg.startswith(("--resume=", "--resume_from_checkpoint=")):
            continue
        kept.append(arg)
    return shlex.join(["python", "-m", "scripts.train", *kept, "--resume", checkpoint])


def agreed_max(value: int, device) -> int:
    """The largest ``value`` over all processes (a no-op in a single process): a stop every rank agrees on."""
    import torch
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        flag = torch.tensor([value], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item())
    return value


class GracefulStop(TrainerCallback):
    """First SIGINT / SIGTERM: finish the step, save a checkpoint, stop. A second one: exit at once.

    Use ``with stop.installed(): trainer.train()``; afterwards ``stop.signum`` says whether (and by
    which signal) training was interrupted, and ``stop.exit_code`` is the shell's 128 + signal.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    @property
    def exit_code(self) -> int:
        return 128 + self.signum if self.signum else 0

    @contextmanager
    def installed(self):
        # Python delivers signals to the main thread only; elsewhere keep the default behaviour.
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
            self._previous.clear()

    def _handle(self, signum, frame):
        name = signal.Signals(signum).name
        if self.signum is not None:
            print(f"\n{name} again: exiting now, without saving this step", file=sys.stderr, flush=True)
            # os._exit, not an exception: nothing may catch it or run more training code first.
            os._exit(128 + signum)
        self.signum = signum
        if _is_main_rank():
            print(f"\n{name}: finishing this step, then saving a checkpoint (press Ctrl-C again to quit at once)",
                  file=sys.stderr, flush=True)

    def _agreed_signal(self, args) -> int | None:
        # Ranks can receive the signal at different steps; all must stop at the same one, or the
        # rank that stops first leaves the others waiting forever in the checkpoint's collectives.
        self.signum = agreed_max(self.signum or 0, args.device) or None
        return self.signum

    def on_step_end(self, args, state, control, **kwargs):
        if self._agreed_signal(args):
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_save(self, args, state, control, **kwargs):
        # A signal that arrived during a scheduled save: that checkpoint is the current step's.
        if self._agreed_signal(args):
            control.should_training_stop = True
        return control

    def report(self, output_dir: str, global_step: int, max_steps: int, argv: list[str]) -> str:
        """What to tell the user after an interrupted ``trainer.train()``."""
        return stop_report(signal.Signals(self.signum).name, output_dir, global_step, max_steps, argv)


def stop_report(by: str, output_dir: str, global_step: int, max_steps: int, argv: list[str]) -> str:
    """The checkpoint a stopped run left and the command that resumes it (a signal, a reward error, health_stop)."""
    checkpoint = Path(output_dir) / f"checkpoint-{global_step}"
    if checkpoint_problem(checkpoint) is not None:
        checkpoint = last_complete_checkpoint(output_dir)
    if checkpoint is None:
        return f"stopped by {by} at step {global_step}/{max_steps}; no complete checkpoint was saved"
    return (f"stopped by {by} at step {global_step}/{max_steps}; saved {checkpoint}\n"
            f"resume with: {resume_command(argv, str(checkpoint))}\n"
            "(or rerun the same command: with `resume: auto` it continues from the newest complete checkpoint)")


def save_checkpoint_now(trainer) -> None:
    """Save ``checkpoint-<global_step>`` after an error ended ``trainer.train()`` mid-step, then end training.

    The same Trainer calls as the save ``GracefulStop`` asks for (``_save_checkpoint``, then the callbacks'
    ``on_save``), with the state of the last finished step: the failed step's update never happened. Nothing
    is saved before the first step, or when that step's checkpoint is already complete. ``on_train_end``
    then lets the callbacks close what they hold open (TensorBoard's event file). With several processes,
    an error on one rank only leaves the others waiting in their next collective (not handled here).
    """
    state = trainer.state
    if state.global_step > 0 and checkpoint_problem(Path(trainer.args.output_dir) / f"checkpoint-{state.global_step}"):
        trainer._save_checkpoint(trainer.model_wrapped, trial=None)
        trainer.control = trainer.callback_handler.on_save(trainer.args, state, trainer.control)
    trainer.control = trainer.callback_handler.on_train_end(trainer.args, state, trainer.control)


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
        # torch's zip writer says only "file write failed"; count it as a full disk only if it nearly is.
        is_full = "file write failed" in text and _free_bytes(output_dir) < 64 * 2**20
    if not is_full:
        return None
    free = _free_bytes(output_dir)
    checkpoint = last_complete_checkpoint(output_dir)
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
