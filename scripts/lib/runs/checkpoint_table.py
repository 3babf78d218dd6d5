"""A run's checkpoints as data, for `make checkpoints` (scripts/checkpoints.py) to print: per
``checkpoint-N`` the metrics logged at step N, the best one by recent accuracy, the aha step over the
whole log history, and the health alarms that go with each."""

from __future__ import annotations

from scripts.lib.measure.aha import detect_aha
from scripts.lib.runs.run_files import (
    STATE,
    RunError,
    accuracy_reward_name,
    aha_settings,
    check_run,
    checkpoint_dirs,
    history_of,
    load_history,
    metrics_at,
    read_alarms,
    recent_accuracy,
    run_info,
)


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
    # Health alarms (scripts/lib/training/health_monitor.py) go with the first checkpoint at or after their step.
    alarms = read_alarms(run)
    previous = 0
    for row in rows:
        row["alarms"] = [a for a in alarms if previous < a.get("step", 0) <= row["step"]]
        previous = row["step"]
    later = [a for a in alarms if a.get("step", 0) > previous]
    return {"run": str(run), "recipe": info.get("recipe"), "rows": rows,
            "best": best["checkpoint"] if best else None, "aha": aha, "aha_settings": settings,
            "alarms_after_last_checkpoint": later}
