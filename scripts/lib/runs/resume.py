"""Finding, checking and resuming checkpoints: a run that is interrupted loses at most the step it was on.

* ``checkpoint_problem`` / ``last_complete_checkpoint``: a checkpoint is used only if every file
  the Trainer reads back is whole. HF Trainer writes ``trainer_state.json`` last, but with a plain
  ``open(..., "w")`` (not atomically), and nothing is fsync'ed, so a kill or a power loss can leave
  a missing or truncated state file, or truncated / zero-length weights after a crash.
* ``resolve_resume``: the recipe's ``resume: auto | never | <checkpoint path>``; ``finished_message``:
  a run already at its planned steps is not trained again; ``resume_command``: the command that continues.

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

import json
import shlex
import sys
import zipfile
from pathlib import Path

from scripts.lib.process.distributed import is_main, world_size
from scripts.lib.recipe.cli import RecipeError
from scripts.lib.runs.output_lock import LOCK_FILE

# Files a finished run leaves at the top of output_dir; starting over would overwrite them.
FINAL_MODEL_FILES = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors",
                     "pytorch_model.bin")


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
    # Each rank of a multi-process run writes its own RNG state, and rank 0 writes trainer_state.json without
    # waiting for the others': a rank killed there leaves a checkpoint that is whole but for its RNG file.
    if world_size() > 1 and any(path.glob("rng_state_*.pth")):
        missing = [r for r in range(world_size()) if not (path / f"rng_state_{r}.pth").is_file()]
        if missing:
            return f"rng_state_{missing[0]}.pth is missing: rank {missing[0]}'s save did not finish"
    for file in sorted(path.iterdir()):
        if file.is_file() and file.suffix in (".pt", ".pth", ".bin") and file.name != "training_args.bin":
            if problem := _torch_file_problem(file):
                return problem
        elif file.is_file() and file.suffix == ".json" and file.name != "trainer_state.json":
            if problem := _json_problem(file):
                return problem
    return None


def last_complete_checkpoint(output_dir: str | Path, warn: bool = True) -> str | None:
    """The newest ``checkpoint-N`` in ``output_dir`` that passes ``checkpoint_problem``.

    Each newer, incomplete one is skipped (with a one-line warning unless ``warn`` is False) and never loaded.
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
        if warn and is_main():
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


def resumed_step(checkpoint: str) -> int:
    """The step a (complete) checkpoint was saved at."""
    return json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8"))["global_step"]


def untied_missing_keys(model, missing_keys) -> list[str]:
    """The missing keys that are really missing: not a parameter tied to one that was loaded.

    A model with a tied head (``tie_word_embeddings``) is saved with ``lm_head.weight`` left out, since
    it is the embedding's own tensor; loading the checkpoint back leaves it out again, and it is right.
    """
    params = dict(model.named_parameters(remove_duplicate=False))
    loaded = {id(param) for name, param in params.items() if name not in missing_keys}
    return [key for key in missing_keys if key not in params or id(params[key]) not in loaded]


def report_only_untied_missing_keys(trainer) -> None:
    """The Trainer warns about missing keys after loading a checkpoint (``_issue_warnings_after_load``):
    on every resume of a tied-head model it printed ``There were missing keys in the checkpoint model
    loaded: ['lm_head.weight']``. It now hears only the keys ``untied_missing_keys`` keeps; a key that is
    really missing is still reported, in the Trainer's own words."""
    from types import SimpleNamespace

    issue = trainer._issue_warnings_after_load

    def issue_untied(load_result):
        issue(SimpleNamespace(missing_keys=untied_missing_keys(trainer.model, load_result.missing_keys),
                              unexpected_keys=load_result.unexpected_keys))

    trainer._issue_warnings_after_load = issue_untied
