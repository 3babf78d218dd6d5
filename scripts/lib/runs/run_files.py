"""Reading a training run's folder: run info, checkpoints, log history, metrics at a step.

``make checkpoints``, ``make export``, ``make plot`` and ``make eval`` describe a run from these
files only: ``run_info.json`` (written by the tracker, ``scripts/lib/training/aha_tracker.py``), the
``checkpoint-N`` folders and their ``trainer_state.json`` log history, ``eval_history.jsonl`` (held-out
scores during training) and ``health.jsonl`` (the health monitor's alarms, ``scripts/lib/training/health_monitor.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

from rewards import ACCURACY_REWARD_FOR_TASK
from scripts.lib.measure.aha import ACCURACY_KEY, FORMAT_KEY, LENGTH_MEAN_KEY, REFLECTION_KEY, AhaResult
from scripts.lib.recipe.cli import UserError
from scripts.lib.recipe.arguments import R1ZeroArguments

RUN_INFO = "run_info.json"
STATE = "trainer_state.json"
HEALTH = "health.jsonl"  # scripts/lib/training/health_monitor.py's alarms, one JSON record a line
EVAL_HISTORY = "eval_history.jsonl"  # held-out scores during training (evaluation/before_after.py's HeldOutEvalCallback)
HELD_OUT_BEFORE = "held_out_before.json"  # the base's held-out scores, kept from a run's start for every resume

# column -> (header, log keys in order of preference, format)
COLUMNS = {
    "reward": ("reward", ["reward"], "{:.3f}"),
    "accuracy": ("accuracy", [ACCURACY_KEY], "{:.3f}"),
    "format": ("format", [FORMAT_KEY, "rewards/format_reward/mean"], "{:.3f}"),
    "mean_length": ("mean length", [LENGTH_MEAN_KEY, "completions/mean_length"], "{:.1f}"),
    "reflection": ("self-check share", [REFLECTION_KEY], "{:.3f}"),
}


class RunError(UserError):
    """A problem with the run folder the user named, explained in one line."""


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise RunError(f"cannot read {path}: {err.strerror}") from None
    except ValueError as err:
        raise RunError(f"{path} is not valid JSON ({err}); the file may be half-written") from None
    if not isinstance(data, dict):
        raise RunError(f"{path} is not a JSON object")
    return data


def write_json_atomically(path: Path, data) -> None:
    """``data`` as JSON in ``path``, whole or not at all: written beside it, flushed to disk, renamed over it.
    A kill mid-write leaves the old file (or none) and a ``.<name>.tmp-<pid>`` file, never a truncated one."""
    import os

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def checkpoint_dirs(run: Path) -> list[tuple[int, Path]]:
    """(step, folder) for every ``checkpoint-N`` folder, by step."""
    found = [(int(p.name.split("-")[-1]), p) for p in run.glob("checkpoint-*")
             if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found)


def history_of(state_file: Path) -> list[dict]:
    history = read_json(state_file).get("log_history")
    if not isinstance(history, list):
        raise RunError(f"{state_file} has no log_history list")
    return [entry for entry in history if isinstance(entry, dict)]


def check_run(run) -> Path:
    run = Path(run)
    if not run.is_dir():
        raise RunError(f"run folder not found: {run} (give a training output_dir, e.g. RUN=outputs/cpu_countdown_tiny)")
    return run


def load_history(run) -> list[dict]:
    """The longest log history of the run: its final ``trainer_state.json`` or its newest checkpoint's."""
    run = check_run(run)
    candidates = [run / STATE] + [path / STATE for _, path in reversed(checkpoint_dirs(run))]
    best: list[dict] = []
    for state_file in candidates:
        if state_file.is_file():
            history = history_of(state_file)
            if _last_step(history) > _last_step(best):
                best = history
    if not best:
        raise RunError(f"no trainer_state.json with a log history in {run} or its checkpoints "
                       "(training writes one at every save_steps)")
    return best


def _last_step(history: list[dict]) -> int:
    return max((int(e.get("step", -1)) for e in history), default=-1)


def training_logs(history: list[dict]) -> list[dict]:
    """The per-step training entries (TRL's logs carry ``reward``; summaries and eval logs do not)."""
    return [e for e in history if "reward" in e and "step" in e]


def _value(entry: dict, column: str, accuracy_reward: str | None) -> float | None:
    keys = COLUMNS[column][1] + ([f"rewards/{accuracy_reward}/mean"] if column == "accuracy" and accuracy_reward else [])
    for key in keys:
        value = entry.get(key)
        if isinstance(value, (int, float)):
            return float(value)
    return None


def metrics_at(history: list[dict], step: int, accuracy_reward: str | None = None) -> tuple[int | None, dict]:
    """(logged step, metrics) of the last training log at or before ``step``."""
    entries = [e for e in training_logs(history) if int(e["step"]) <= step]
    if not entries:
        return None, {}
    values = {column: _value(entries[-1], column, accuracy_reward) for column in COLUMNS}
    return int(entries[-1]["step"]), {k: v for k, v in values.items() if v is not None}


def recent_accuracy(history: list[dict], step: int, logs: int, accuracy_reward: str | None = None) -> float | None:
    """Mean accuracy of the last ``logs`` training logs at or before ``step``: one batch is too noisy to pick by."""
    values = [_value(e, "accuracy", accuracy_reward) for e in training_logs(history) if int(e["step"]) <= step]
    values = [v for v in values if v is not None][-logs:]
    return sum(values) / len(values) if values else None


def run_info(run: Path) -> dict:
    path = Path(run) / RUN_INFO
    return read_json(path) if path.is_file() else {}


def recorded_run(model: str) -> tuple[Path, dict] | None:
    """(folder, run_info) of the run that wrote ``model``: a run folder, one of its ``checkpoint-N``
    folders, or a folder ``make export`` wrote (it copies ``run_info.json``); None for anything else."""
    path = Path(model)
    for folder in (path, path.parent) if path.name.startswith("checkpoint-") else (path,):
        if (folder / RUN_INFO).is_file():
            info = read_json(folder / RUN_INFO)
            if info.get("command"):
                return folder, info
    return None


def recorded_train_argv(info: dict) -> list[str]:
    """The flags ``scripts.train`` was given, from ``run_info.json``'s command.

    >>> recorded_train_argv({"command": "python -m scripts.train --config recipes/cpu_countdown_tiny.yaml --seed 3"})
    ['--config', 'recipes/cpu_countdown_tiny.yaml', '--seed', '3']
    """
    import shlex

    words = shlex.split(info.get("command") or "")
    return words[3:] if words[:3] == ["python", "-m", "scripts.train"] else []


def aha_settings(info: dict) -> dict:
    """The run's own aha settings, else the recipe defaults (``R1ZeroArguments``)."""
    saved = (info.get("tracker") or {}).get("aha")
    if saved:
        return saved
    return R1ZeroArguments().aha_settings()


def accuracy_reward_name(info: dict) -> str | None:
    return ACCURACY_REWARD_FOR_TASK.get(info.get("task", ""))


def aha_line(aha: AhaResult | None, settings: dict) -> str:
    if aha is not None:
        return aha.describe(settings["window"])
    return (f"aha step: not detected (heuristic: self-check share {settings['reflection_margin']:+g} and accuracy "
            f"{settings['accuracy_margin']:+g} over the first {settings['baseline_steps']} logged steps, held for "
            f"{settings['window']} logged steps; see scripts/lib/measure/aha.py)")


def read_jsonl(path: Path) -> list[dict]:
    """The JSON objects of a file written one a line; a line cut short by a kill is skipped. No file: []."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def read_alarms(run) -> list[dict]:
    """The health alarms recorded in a run folder (none if it has no ``health.jsonl``)."""
    return read_jsonl(Path(run) / HEALTH)
