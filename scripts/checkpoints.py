"""Every checkpoint of a run in one table, to choose the one to keep.

    make checkpoints RUN=outputs/cpu_countdown_tiny
    python -m scripts.checkpoints outputs/cpu_countdown_tiny --format json

For each ``checkpoint-N``: step, reward, accuracy, format rate, mean completion length and
self-check share, read from that checkpoint's ``trainer_state.json`` log history at step N (the
tracker's ``aha/*`` numbers; TRL's reward means where a run has none). They describe the training
batch logged at that step (8 prompts on the CPU recipe): noisy, and not held-out numbers.

The best checkpoint by accuracy (averaged over the last ``aha_smoothing`` logs up to its step, since one
batch is noise) is marked, and the aha step (``scripts/lib/measure/aha.py``'s heuristic, with
the run's own settings from ``run_info.json``) is given if the whole log history shows one. Health
alarms (``health.jsonl``, scripts/lib/training/health_monitor.py) are noted on the first checkpoint at or after
their step.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from scripts.lib.runs.checkpoint_table import checkpoint_table
from scripts.lib.recipe.cli import command_line, run_cli
from scripts.lib.runs.run_files import COLUMNS, HEALTH, aha_line


def _cell(column: str, metrics: dict) -> str:
    value = metrics.get(column)
    return "–" if value is None else COLUMNS[column][2].format(value)


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
        if row.get("alarms"):
            notes.append("health: " + ", ".join(f"{a.get('symptom')} (step {a.get('step')})" for a in row["alarms"]))
        recent = "–" if row["recent_accuracy"] is None else f"{row['recent_accuracy']:.3f}"
        cells = [row["checkpoint"], str(row["step"])] + [_cell(c, row["metrics"]) for c in COLUMNS] + [recent]
        lines.append("| " + " | ".join(cells + [", ".join(notes)]) + " |")
    out = [f"run: {table['run']}" + (f" (recipe {table['recipe']})" if table["recipe"] else ""), "", *lines, ""]
    if footnote:
        out.append("* the last log before the checkpoint (logging_steps does not divide save_steps)")
    out.append("numbers: the training batch logged at each checkpoint's step (noisy; not held-out); best: by the "
               f"accuracy averaged over the last {logs} logs (the aha heuristic's smoothing)")
    out.append(aha_line(table["aha"], table["aha_settings"]))
    later = table.get("alarms_after_last_checkpoint") or []
    if later:
        out.append("health alarms after the last checkpoint: "
                   + ", ".join(f"{a.get('symptom')} (step {a.get('step')})" for a in later))
    if any(row.get("alarms") for row in table["rows"]) or later:
        out.append(f"alarm lines: {table['run']}/{HEALTH}")
    if table["best"]:
        best = next(r for r in table["rows"] if r["checkpoint"] == table["best"])
        out.append(f"keep one: make export CKPT={best['path']} OUT=<folder>")
    return "\n".join(out)


def render_json(table: dict) -> str:
    aha = table["aha"]
    payload = {**table, "aha": None if aha is None else asdict(aha)}
    return json.dumps(payload, indent=2)


def main(argv=None) -> int:
    args = command_line(
        __doc__,
        ("run", {"help": "a training output_dir, e.g. outputs/cpu_countdown_tiny"}),
        ("--format", {"choices": ["markdown", "json"], "default": "markdown"}),
    ).parse_args(argv)
    table = checkpoint_table(args.run)
    print(render_markdown(table) if args.format == "markdown" else render_json(table))
    return 0


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
