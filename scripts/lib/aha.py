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

It is not a law of nature: with an early baseline taken before the format is learned, a format-driven
accuracy rise plus a few more "wait"s can pass it; a run with no aha simply gets ``None``. Keep
``window`` larger than ``smoothing``, or a single spike can stay in the average long enough to pass.
The numbers live in the recipe (``aha_*`` keys of ``R1ZeroArguments``).

>>> history = [{"step": s, "aha/self_check_share": 0.2, "aha/accuracy": 0.1} for s in range(1, 6)]
>>> history += [{"step": s, "aha/self_check_share": 0.5, "aha/accuracy": 0.3} for s in range(6, 10)]
>>> detect_aha(history, baseline_steps=3, reflection_margin=0.1, accuracy_margin=0.05, window=3, smoothing=1).step
6
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


@dataclass(frozen=True)
class AhaResult:
    step: int                     # the logged step the sustained rise started
    confirmed_at: int             # the logged step at which it had lasted `window` steps
    baseline_reflection: float
    baseline_accuracy: float
    reflection: float             # smoothed values at confirmation
    accuracy: float

    def describe(self, window: int) -> str:
        return (f"aha step {self.step} (heuristic, confirmed at step {self.confirmed_at} after {window} logged steps): "
                f"self-check share {self.baseline_reflection:.2f} -> {self.reflection:.2f}, "
                f"accuracy {self.baseline_accuracy:.2f} -> {self.accuracy:.2f}")


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class AhaDetector:
    """Feed it one logged step at a time (O(1) each); ``update`` returns the result once, when confirmed."""

    def __init__(self, baseline_steps: int, reflection_margin: float, accuracy_margin: float, window: int,
                 smoothing: int):
        if baseline_steps < 1 or window < 1 or smoothing < 1:
            raise ValueError("aha_baseline_steps, aha_window and aha_smoothing must be at least 1")
        self.baseline_steps = baseline_steps
        self.reflection_margin = reflection_margin
        self.accuracy_margin = accuracy_margin
        self.window = window
        self._baseline: list[tuple[float, float]] = []
        self._recent: deque[tuple[float, float]] = deque(maxlen=smoothing)
        self._run_start: int | None = None
        self._run_length = 0
        self.result: AhaResult | None = None

    def update(self, step: int, reflection, accuracy) -> AhaResult | None:
        if self.result is not None or not (_finite(reflection) and _finite(accuracy)):
            return None
        self._recent.append((float(reflection), float(accuracy)))
        if len(self._baseline) < self.baseline_steps:
            self._baseline.append((float(reflection), float(accuracy)))
            return None
        base_r = sum(r for r, _ in self._baseline) / len(self._baseline)
        base_a = sum(a for _, a in self._baseline) / len(self._baseline)
        r = sum(v for v, _ in self._recent) / len(self._recent)
        a = sum(v for _, v in self._recent) / len(self._recent)
        # A tiny epsilon: 0.2 + 0.1 is 0.30000000000000004, and a share of exactly 0.3 has risen by 0.1.
        if r >= base_r + self.reflection_margin - 1e-9 and a >= base_a + self.accuracy_margin - 1e-9:
            if self._run_start is None:
                self._run_start = step
            self._run_length += 1
            if self._run_length >= self.window:
                self.result = AhaResult(self._run_start, step, base_r, base_a, r, a)
                return self.result
        else:
            self._run_start, self._run_length = None, 0
        return None

    def update_from_log(self, entry: dict) -> AhaResult | None:
        """One ``log_history`` entry; entries without both metrics (summaries, eval) are skipped."""
        if REFLECTION_KEY not in entry or ACCURACY_KEY not in entry or "step" not in entry:
            return None
        return self.update(int(entry["step"]), entry[REFLECTION_KEY], entry[ACCURACY_KEY])


def detect_aha(history, **settings) -> AhaResult | None:
    """The aha step in a ``trainer_state.json`` log history, or None. ``settings``: AhaDetector's arguments."""
    detector = AhaDetector(**settings)
    for entry in history:
        found = detector.update_from_log(entry)
        if found is not None:
            return found
    return None
