"""The aha curves of a run as one PNG: reward, accuracy, format, length, reflection, aha step marked.

    make plot RUN=outputs/cpu_countdown_tiny        # writes outputs/cpu_countdown_tiny/aha_curves.png
    python -m scripts.plot outputs/cpu_countdown_tiny --out figure.png

Reads the run's log history (its final ``trainer_state.json``, else the newest checkpoint's). Each
panel draws the logged values thin and their trailing mean (the aha heuristic's ``smoothing``)
bold; a dashed line marks the aha step when ``scripts/lib/measure/aha.py`` finds one, dotted lines the
checkpoints. For READMEs and papers; TensorBoard (``make tensorboard``) is the live view.
"""

from __future__ import annotations

import sys
from pathlib import Path

from scripts.lib.measure.aha import HONEST_KEY, LENGTH_P90_KEY, detect_aha
from scripts.lib.recipe.cli import command_line, run_cli
from scripts.lib.runs.run_files import (
    COLUMNS,
    RunError,
    accuracy_reward_name,
    aha_settings,
    check_run,
    checkpoint_dirs,
    load_history,
    run_info,
    training_logs,
)

FIGSIZE = (12, 7)  # inches
DPI = 100          # -> 1200 x 700 pixels
PANELS = [  # (column of the checkpoints table, (extra log key, its label) drawn on the same panel)
    ("reward", None),
    ("accuracy", None),
    ("format", None),
    ("mean_length", (LENGTH_P90_KEY, "p90 length")),
    ("reflection", (HONEST_KEY, "honest checks")),
]
RATES = {"accuracy", "format", "reflection"}  # shares: drawn on a fixed 0..1 axis


def _trailing_mean(values: list[float], n: int) -> list[float]:
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= n:
            total -= values[i - n]
        out.append(total / min(i + 1, n))
    return out


def _series(entries: list[dict], keys: list[str]) -> tuple[list[int], list[float]]:
    steps, values = [], []
    for entry in entries:
        for key in keys:
            value = entry.get(key)
            if isinstance(value, (int, float)) and value == value:
                steps.append(int(entry["step"]))
                values.append(float(value))
                break
    return steps, values


def plot_run(run, out=None) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, none opened
    import matplotlib.pyplot as plt

    run = check_run(run)
    info = run_info(run)
    entries = training_logs(load_history(run))
    if not entries:
        raise RunError(f"no training logs (entries with a reward) in {run}'s trainer_state.json")
    settings = aha_settings(info)
    aha = detect_aha(entries, **settings)
    accuracy_reward = accuracy_reward_name(info)
    out = Path(out) if out is not None else run / "aha_curves.png"

    fig, axes = plt.subplots(2, 3, figsize=FIGSIZE, dpi=DPI)
    for ax, (column, extra) in zip(axes.flat, PANELS):
        header, keys, _ = COLUMNS[column]
        keys = keys + ([f"rewards/{accuracy_reward}/mean"] if column == "accuracy" and accuracy_reward else [])
        extra_key, extra_label = extra or (None, None)
        for label, series_keys, color in ((header, keys, "tab:blue"),
                                          (extra_label, [extra_key] if extra_key else [], "tab:orange")):
            steps, values = _series(entries, series_keys)
            if not steps:
                continue
            ax.plot(steps, values, color=color, alpha=0.3, linewidth=0.8)
            ax.plot(steps, _trailing_mean(values, settings["smoothing"]), color=color, linewidth=1.8,
                    label=label)
        for step, _ in checkpoint_dirs(run):
            ax.axvline(step, color="0.8", linestyle=":", linewidth=0.8)
        if aha is not None:
            ax.axvline(aha.step, color="tab:red", linestyle="--", linewidth=1.2, label=f"aha step {aha.step}")
        if column in RATES:
            ax.set_ylim(-0.03, 1.03)
        ax.set_title(header)
        ax.set_xlabel("step")
        ax.grid(alpha=0.2)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
    notes = axes.flat[len(PANELS)]
    notes.axis("off")
    lines = [f"run: {run.name}", f"recipe: {info.get('recipe') or 'unknown'}",
             f"logged steps: {len(entries)} (last {entries[-1]['step']})",
             f"aha step: {aha.step}" if aha is not None else "aha step: not detected",
             f"heuristic: share {settings['reflection_margin']:+g}, accuracy {settings['accuracy_margin']:+g}",
             f"  over the first {settings['baseline_steps']} logs, held {settings['window']} logs",
             f"bold: mean of the last {settings['smoothing']} logs; dotted: checkpoints"]
    notes.text(0.0, 1.0, "\n".join(lines), va="top", family="monospace", fontsize=9)
    fig.suptitle(f"R1-Zero aha curves: {run.name}")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def main(argv=None) -> int:
    args = command_line(
        __doc__,
        ("run", {"help": "a training output_dir, e.g. outputs/cpu_countdown_tiny"}),
        ("--out", {"help": "PNG path (default: <run>/aha_curves.png)"}),
    ).parse_args(argv)
    out = plot_run(args.run, args.out)
    print(f"wrote {out}")
    return 0


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
