"""Score one batch of completions the way training scores them: format, accuracy, length and the
reflection measures (``REVISION_ROWS``), and how those numbers are written to JSON.

Every number the kit prints (the before/after table of ``scripts/train.py``, ``make eval``, the preflight's
samples, the in-training eval) comes from ``score_completions``, so it is computed one way.
"""

from __future__ import annotations

import math

from rewards import ACCURACY_REWARD_FOR_TASK, format_reward, get_reward
from rewards.text import completion_text
from scripts.lib.measure.reflection import has_self_check, revision_numbers, verdict_line


# The revision numbers (``scripts.lib.measure.reflection.revision_numbers``) every table shows, in order:
# (key in the scores, label). Countdown-only rows are left out for other tasks.
REVISION_ROWS = [
    ("self_check", "self-check share"),
    ("accuracy_self_checking", "accuracy, self-checking"),
    ("accuracy_rest", "accuracy, not self-checking"),
    ("accuracy_ratio", "accuracy ratio (checking / not)"),
    ("tries_mean", "tries per completion"),
    ("first_try_accuracy", "first-try accuracy"),
    ("wrong_to_right", "wrong->right rate"),
    ("right_to_wrong", "right->wrong rate"),
    ("hit_in_think", "true hit inside <think>"),
    ("honest_checks", "honest checks"),
    ("final_ok_true", "final ok true (searches stopping on ok)"),
    ("searches_without_hit", "searches without a true hit"),
    # Why a false final ok is false (scripts/lib/measure/stops.py): shares of the false ones.
    ("false_ok_comparison", "false ok: ok for unequal numbers"),
    ("false_ok_arithmetic", "false ok: result written as the target, arithmetic wrong"),
    ("false_ok_other", "false ok: other (target copied wrong, numbers not given)"),
    ("true_ok_answer_differs", "true ok, answer differs from that try"),
    ("searches_repeating_a_try", "searches repeating a try"),
]
COUNTDOWN_ONLY = ("tries_mean", "first_try_accuracy", "wrong_to_right", "right_to_wrong", "hit_in_think",
                  "honest_checks", "final_ok_true", "searches_without_hit", "false_ok_comparison", "false_ok_arithmetic",
                  "false_ok_other", "true_ok_answer_differs", "searches_repeating_a_try")
KEYWORD_ONLY_NOTE = ("{task}: reflection rows are keyword-based only (phrases: {phrases}); tries, first-try "
                     "accuracy and wrong->right need Countdown, whose tries code can check")


def score_completions(rows, completions, task: str, lengths=None, reflection_phrases=None,
                      reward_settings: dict | None = None) -> dict:
    """Format rate, accuracy, mean length and the revision numbers (``REVISION_ROWS``).

    ``summary`` holds ``scripts.lib.measure.reflection.revision_numbers`` whole (what ``reflection_verdict`` reads).
    """
    columns = {key: [row.get(key) for row in rows] for key in ("solution", "nums", "target")}
    prompts = [row["prompt"] for row in rows]
    accuracy_name = ACCURACY_REWARD_FOR_TASK[task]
    accuracy_fn = get_reward(accuracy_name, **(reward_settings or {}).get(accuracy_name, {}))
    formats = format_reward(completions, prompts=prompts)
    correct = accuracy_fn(completions, prompts=prompts, **columns)
    texts = [completion_text(c) for c in completions]
    summary = revision_numbers(texts, correct, formats, task, columns["target"], columns["nums"], reflection_phrases)
    scored = [c for c in correct if c is not None]
    result = {
        "n": len(rows),
        "format": mean(formats),
        "accuracy": mean(scored),
        "self_check": summary["self_check_share"],
        "mean_length": mean(lengths) if lengths else mean([len(t) for t in texts]),
    }
    for key, _ in REVISION_ROWS[1:]:
        if key in summary and (task == "countdown" or key not in COUNTDOWN_ONLY):
            result[key] = summary[key]
    if task == "countdown" and "searches_stopping_on_ok" in summary:
        result["searches_stopping_on_ok"] = summary["searches_stopping_on_ok"]   # the false-ok shares' base
    result["summary"] = summary
    result["verdict"] = verdict_line(summary, f"{len(texts)} completions")
    checks = [has_self_check(t, reflection_phrases) for t in texts]
    result["per_example"] = [
        {"correct": c, "format": f, "self_check": s} for c, f, s in zip(correct, formats, checks)
    ]
    return result


def mean(values) -> float:
    """The mean of the values that are not None (None: "cannot be checked"); NaN when none are left.

    >>> mean([1.0, None, 0.0]), mean([None])
    (0.5, nan)
    """
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else float("nan")


def library_versions() -> dict:
    """Versions of the libraries a number depends on (None: not installed)."""
    from importlib import metadata

    versions = {}
    for name in ("torch", "transformers", "trl", "math-verify", "vllm", "sympy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def json_safe(value):
    """JSON has no NaN: an undefined rate (no checks to be honest about) is written as null.

    >>> json_safe({"honest_checks": float("nan"), "pass@1": [0.5]})
    {'honest_checks': None, 'pass@1': [0.5]}
    """
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value
