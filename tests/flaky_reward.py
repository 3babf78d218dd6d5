"""A reward for the reward-guard tests that breaks while scoring step 3, named by its dotted path.

``FLAKY_REWARD`` picks how: ``raise`` (a ZeroDivisionError), ``count`` (one value short), anything
else (or unset) scores completion length, like ``tests/slow_reward.py``, so the weights change each
step. Once ``FLAKY_REWARD`` is unset the reward is "fixed", and the run resumes.
"""

from __future__ import annotations

import os

from rewards.text import completion_text


def flaky_length_reward(completions, trainer_state=None, **kwargs) -> list[float]:
    """
    >>> flaky_length_reward(["ab", "abcd"])
    [0.02, 0.04]
    """
    scores = [len(completion_text(c)) / 100 for c in completions]
    breaking = trainer_state is not None and trainer_state.global_step == 2  # scoring step 3
    mode = os.environ.get("FLAKY_REWARD", "")
    if breaking and mode == "raise":
        return [1 / 0 for _ in completions]
    if breaking and mode == "count":
        return scores[:-1]
    return scores
