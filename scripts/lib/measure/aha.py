"""Aha-step detection: a heuristic that says *when* self-checks and accuracy took off together.

R1-Zero's "aha moment" is the policy starting, unprompted, to re-examine its work while getting
more answers right. In the logged curves that is the self-check share and the accuracy both rising
above where they started. ``AhaDetector`` names the first logged step after which both stay raised:

1. **baseline**: the mean of each metric over the first ``baseline_steps`` logged steps;
2. **smoothing**: each later value is replaced by the mean of the last ``smoothing`` logged values,
   so one lucky batch (8 prompts on CPU) does not count;
3. **aha step**: the first logged step from which, for ``window`` logged steps in a row, the smoothed
   share is at least ``baseline + reflection_margin`` *and* the smoothed accuracy at least
   ``baseline + accuracy_margin``. It is confirmed ``window - 1`` logged steps after it happened.

For Countdown, where code can check every try, a third curve must rise with them: the
**wrong->right rate** (first try wrong, final answer right; ``wrong_to_right_margin``), so checks that
fix answers count and a rise in check words alone does not. Other tasks pass ``None`` (keywords only).

It is not a law of nature: with an early baseline taken before the format is learned, a format-driven
accuracy rise plus a few more "wait"s can pass it; a run with no aha simply gets ``None``. Keep
``window`` larger than ``smoothing``, or a single spike can stay in the average long enough to pass.
The numbers live in the recipe (``aha_*`` keys of ``R1ZeroArguments``).

>>> history = [{"step": s, "aha/self_check_share": 0.2, "aha/accuracy": 0.1} for s in range(1, 6)]
>>> history += [{"step": s, "aha/self_check_share": 0.5, "aha/accuracy": 0.3} for s in range(6, 10)]
>>> detect_aha(history, baseline_steps=3, reflection_margin=0.1, accuracy_margin=0.05, window=3, smoothing=1).step
6

For Countdown the wrong->right rate must rise too; here it stays flat, so no aha:

>>> flat = [{**e, "aha/wrong_to_right": 0.05} for e in history]
>>> detect_aha(flat, baseline_steps=3, reflection_margin=0.1, accuracy_margin=0.05, window=3, smoothing=1,
...            wrong_to_right_margin=0.02) is None
True
>>> rising = [{**e, "aha/wrong_to_right": 0.05 if e["step"] < 7 else 0.1} for e in history]
>>> detect_aha(rising, baseline_steps=3, reflection_margin=0.1, accuracy_margin=0.05, window=3, smoothing=1,
...            wrong_to_right_margin=0.02).step
7
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

# The tracker's keys in TRL's logs / trainer_state.json log history (TensorBoard adds "train/").
REFLECTION_KEY = "aha/self_check_share"
ACCURACY_KEY = "aha/accuracy"
FORMAT_KEY = "aha/format"
LENGTH_MEAN_KEY = "aha/length_mean"
LENGTH_P90_KEY = "aha/length_p90"
HONEST_KEY = "aha/honest_checks"
# Does reflecting pay (scripts.lib.measure.reflection.revision_numbers): accuracy split by self-check, all tasks;
# the tries-based numbers for Countdown only.
ACCURACY_CHECKING_KEY = "aha/accuracy_self_checking"
ACCURACY_NOT_CHECKING_KEY = "aha/accuracy_not_checking"
ACCURACY_RATIO_KEY = "aha/accuracy_ratio"
TRIES_KEY = "aha/tries_mean"
FIRST_TRY_KEY = "aha/first_try_accuracy"
FINAL_ACCURACY_KEY = "aha/final_accuracy"
WRONG_TO_RIGHT_KEY = "aha/wrong_to_right"
RIGHT_TO_WRONG_KEY = "aha/right_to_wrong"
FINAL_OK_TRUE_KEY = "aha/final_ok_true"                 # the stop verdict: is a search's final `ok` true?
SEARCHES_WITHOUT_HIT_KEY = "aha/searches_without_hit"
# tracker key -> revision_numbers key
REVISION_KEYS = {
    ACCURACY_CHECKING_KEY: "accuracy_self_checking", ACCURACY_NOT_CHECKING_KEY: "accuracy_rest",
    ACCURACY_RATIO_KEY: "accuracy_ratio", TRIES_KEY: "tries_mean", FIRST_TRY_KEY: "first_try_accuracy",
    FINAL_ACCURACY_KEY: "accuracy", WRONG_TO_RIGHT_KEY: "wrong_to_right", RIGHT_TO_WRONG_KEY: "right_to_wrong",
    HONEST_KEY: "honest_checks", FINAL_OK_TRUE_KEY: "final_ok_true", SEARCHES_WITHOUT_HIT_KEY: "searches_without_hit",
}


@dataclass(frozen=True)
class AhaResult:
    step: int                     # the logged step the sustained rise started
    confirmed_at: int             # the logged step at which it had lasted `window` steps
    baseline_reflection: float
    baseline_accuracy: float
    reflection: float             # smoothed values at confirmation
    accuracy: float
    baseline_wrong_to_right: float | None = None   # Countdown only
    wrong_to_right: float | None = None

    def describe(self, window: int) -> str:
        return (f"aha step {self.step} (heuristic, confirmed at step {self.confirmed_at} after {window} logged steps): "
                f"self-check share {self.baseline_reflection:.2f} -> {self.reflection:.2f}, "
                f"accuracy {self.baseline_accuracy:.2f} -> {self.accuracy:.2f}"
                + ("" if self.wrong_to_right is None else
                   f", wrong->right {self.baseline_wrong_to_right:.3f} -> {self.wrong_to_right:.3f}"))


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class AhaDetector:
    """Feed it one logged step at a time (O(1) each); ``update`` returns the result once, when confirmed."""

    def __init__(self, baseline_steps: int, reflection_margin: float, accuracy_margin: float, window: int,
                 smoothing: int, wrong_to_right_margin: float | None = None):
        if baseline_steps < 1 or window < 1 or smoothing < 1:
            raise ValueError("aha_baseline_steps, aha_window and aha_smoothing must be at least 1")
        self.baseline_steps = baseline_steps
        self.reflection_margin = reflection_margin
        self.accuracy_margin = accuracy_margin
        self.window = window
        self.wrong_to_right_margin = wrong_to_right_margin
        self._baseline: list[tuple[float, ...]] = []
        self._recent: deque[tuple[float, ...]] = deque(maxlen=smoothing)
        self._run_start: int | None = None
        self._run_length = 0
        self.result: AhaResult | None = None

    def update(self, step: int, reflection, accuracy, wrong_to_right=None) -> AhaResult | None:
        needs_w2r = self.wrong_to_right_margin is not None
        if self.result is not None or not (_finite(reflection) and _finite(accuracy)):
            return None
        if needs_w2r and not _finite(wrong_to_right):
            return None
        values = (float(reflection), float(accuracy), float(wrong_to_right) if needs_w2r else 0.0)
        self._recent.append(values)
        if len(self._baseline) < self.baseline_steps:
            self._baseline.append(values)
            return None
        base = [sum(v[i] for v in self._baseline) / len(self._baseline) for i in range(3)]
        now = [sum(v[i] for v in self._recent) / len(self._recent) for i in range(3)]
        margins = (self.reflection_margin, self.accuracy_margin, self.wrong_to_right_margin or 0.0)
        # A tiny epsilon: 0.2 + 0.1 is 0.30000000000000004, and a share of exactly 0.3 has risen by 0.1.
        if all(n >= b + m - 1e-9 for n, b, m in zip(now, base, margins)):
            if self._run_start is None:
                self._run_start = step
            self._run_length += 1
            if self._run_length >= self.window:
                self.result = AhaResult(self._run_start, step, base[0], base[1], now[0], now[1],
                                        base[2] if needs_w2r else None, now[2] if needs_w2r else None)
                return self.result
        else:
            self._run_start, self._run_length = None, 0
        return None

    def update_from_log(self, entry: dict) -> AhaResult | None:
        """One ``log_history`` entry; entries without the metrics (summaries, eval) are skipped."""
        if REFLECTION_KEY not in entry or ACCURACY_KEY not in entry or "step" not in entry:
            return None
        return self.update(int(entry["step"]), entry[REFLECTION_KEY], entry[ACCURACY_KEY], entry.get(WRONG_TO_RIGHT_KEY))


def detect_aha(history, **settings) -> AhaResult | None:
    """The aha step in a ``trainer_state.json`` log history, or None. ``settings``: AhaDetector's arguments."""
    detector = AhaDetector(**settings)
    for entry in history:
        found = detector.update_from_log(entry)
        if found is not None:
            return found
    return None


def format_learned_step(history, threshold: float = 0.9, smoothing: int = 5) -> int | None:
    """The first logged step at which the trailing mean of ``aha/format`` over ``smoothing`` logs reaches
    ``threshold``: when the format was learned (R1-Zero's order: format first, then the aha), or None.

    >>> format_learned_step([{"step": s, "aha/format": f} for s, f in [(1, 0.1), (2, 0.95), (3, 0.95), (4, 1.0)]],
    ...                     smoothing=2)
    3
    """
    recent: deque[float] = deque(maxlen=smoothing)
    for entry in history:
        if FORMAT_KEY in entry and "step" in entry and _finite(entry[FORMAT_KEY]):
            recent.append(float(entry[FORMAT_KEY]))
            if len(recent) == smoothing and sum(recent) / smoothing >= threshold - 1e-9:
                return int(entry["step"])
    return None
