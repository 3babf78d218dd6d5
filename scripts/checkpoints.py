"""Every checkpoint of a run in one table, to choose the one to keep.

    make checkpoints RUN=outputs/cpu_countdown_tiny
    python -m scripts.checkpoints outputs/cpu_countdown_tiny --format json

For each ``checkpoint-N``: step, reward, accuracy, format rate, mean completion length and
self-check share, read from that checkpoint's ``trainer_state.json`` log history at step N (the
tracker's ``aha/*`` numbers; TRL's reward means where a run has none). They describe the training
batch logged at that step (8 prompts on the CPU recipe): noisy, and not held-out numbers.

The best checkpoint by accuracy (averaged over the last ``aha_smoothing`` logs up to its step, since one
batch is noise) is marked, and the aha step (``scripts/lib/aha.py``'s heuristic, with
the run's own settings from ``run_info.json``) is given if the whole log history shows one.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from scripts.lib.aha import ACCURACY_KEY, FORMAT_KEY, LENGTH_MEAN_KEY, REFLECTION_KEY, AhaResult, detect_aha

RUN_INFO = "run_info.json"
STATE = "trainer_state.json"

# column -> (header, log keys in order of preference, format)
COLUMNS = {
    "reward": ("reward", ["reward"], "{:.3f}"),
    "accuracy": ("accuracy", [ACCURACY_KEY], "{:.3f}"),
    "format": ("format", [FORMAT_KEY, "rewards/format_reward/mean"], "{:.3f}"),
    "mean_length": ("mean length", [LENGTH_MEAN_KEY, "completions/mean_length"], "{:.1f}"),
    "reflection": ("self-check share", [REFLECTION_KEY], "{:.3f}"),
}


class RunError(ValueError):
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


def aha_settings(info: dict) -> dict:
    """The run's own aha settings, else the recipe defaults (``R1ZeroArguments``)."""
    saved = (info.get("tracker") or {}).get("aha")
    if saved:
        return saved
    from scripts.lib.config import R1ZeroArguments

    return R1ZeroArguments().aha_settings()


def accuracy_reward_name(info: dict) -> str | None:
    from rewards import ACCURACY_REWARD_FOR_TASK

    return ACCURACY_REWARD_FOR_TASK.get(info.get("task", ""))


def checkpoint_table(run) -> dict:
    """Everything the table shows, as data: rows, the best checkpoint, the aha step."""
    run = check_run(run)
    checkpoints = checkpoint_dirs(run)
    if not checkpoints:
        raise RunError(f"no checkpoint-N folders in {run} (training saves one every save_steps)")
    info = run_info(run)
    accuracy_reward = accuracy_reward_name(info)
    settings = aha_settings(info)
    rows = []
    for step, path in checkpoints:
        row = {"checkpoint": path.name, "path": str(path), "step": step, "logged_step": None, "metrics": {},
               "recent_accuracy": None, "complete": (path / STATE).is_file()}
        if row["complete"]:
            history = history_of(path / STATE)
            row["logged_step"], row["metrics"] = metrics_at(history, step, accuracy_reward)
            row["recent_accuracy"] = recent_accuracy(history, step, settings["smoothing"], accuracy_reward)
        rows.append(row)
    scored = [r for r in rows if r["recent_accuracy"] is not None]
    # Ties go to the later checkpoint: same accuracy, more training behind it.
    best = max(scored, key=lambda r: (r["recent_accuracy"], r["step"])) if scored else None
    try:
        history = load_history(run)
    except RunError:
        history = []
    aha = detect_aha(history, **settings)
    return {"run": str(run), "recipe": info.get("recipe"), "rows": rows,
            "best": best["checkpoint"] if best else None, "aha": aha, "aha_settings": settings}


def _cell(column: str, metrics: dict) -> str:
    value = metrics.get(column)
    return "–" if value is None else COLUMNS[column][2].format(value)


def aha_line(aha: AhaResult | None, settings: dict) -> str:
    if aha is not None:
        return aha.describe(settings["window"])
    return (f"aha step: not detected (heuristic: self-check share {settings['reflection_margin']:+g} and accuracy "
            f"{settings['accuracy_margin']:+g} over the first {settings['baseline_steps']} logged steps, held for "
            f"{settings['window']} logged steps; see scripts/lib/aha.py)")


def render_markdown(table: dict) -> str:
    logs = table["aha_settings"]["smoothing"]
    headers = ["checkpoint", "step"] + [COLUMNS[c][0] for c in COLUMNS] + [f"accuracy, last {logs} logs", ""]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    first_after_aha = None
    if table["aha"] is not None:
        first_after_aha = next((r["checkpoint"] for r in table["rows"] if r["step"] >= table["aha"].step), None)
    footnote = False
    for row in table["rows"]:
        notes = []
        if not row["complete"]:
            notes.append("incomplete (no trainer_state.json)")
        elif row["logged_step"] is None:
            notes.append("no training log at or before this step")
        elif row["logged_step"] != row["step"]:
            notes.append(f"logged at step {row['logged_step']}*")
            footnote = True
        if row["checkpoint"] == table["best"]:
            notes.append("**best accuracy**")
        if row["checkpoint"] == first_after_aha:
            notes.append("first after the aha step")
        recent = "–" if row["recent_accuracy"] is None else f"{row['recent_accuracy']:.3f}"
        cells = [row["checkpoint"], str(row["step"])] + [_cell(c, row["metrics"]) for c in COLUMNS] + [recent]
        lines.append("| " + " | ".join(cells + [", ".join(notes)]) + " |")
    out = [f"run: {table['run']}" + (f" (recipe {table['recipe']})" if table["recipe"] else ""), "", *lines, ""]
    if footnote:
        out.append("* the last log before the checkpoint (logging_steps does not divide save_steps)")
    out.append("numbers: the training batch logged at each checkpoint's step (noisy; not held-out); best: by the "
               f"accuracy averaged over the last {logs} logs (the aha heuristic's smoothing)")
    out.append(aha_line(table["aha"], table["aha_settings"]))
    if table["best"]:
        best = next(r for r in table["rows"] if r["checkpoint"] == table["best"])
        out.append(f"keep one: make export CKPT={best['path']} OUT=<folder>")
    return "\n".join(out)


def render_json(table: dict) -> str:
    aha = table["aha"]
    payload = {**table, "aha": None if aha is None else asdict(aha)}
    return json.dumps(payload, indent=2)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a training output_dir, e.g. outputs/cpu_countdown_tiny")
    parser.add_argument("--format", choices=["markdown", "json"], default="markdown")
    args = parser.parse_args(argv)
    try:
        table = checkpoint_table(args.run)
    except RunError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(render_markdown(table) if args.format == "markdown" else render_json(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
