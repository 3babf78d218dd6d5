"""A reward for the stop/resume tests, named in a recipe by its dotted path.

It scores completion length, so advantages are non-zero and the weights really change each step
(an untrained model scores 0 on every task reward, which would make any two runs look identical).
It appends a line to ``SLOW_REWARD_MARKER`` (if set) as each call starts, then sleeps
``SLOW_REWARD_SECONDS``: TRL calls it once per step, so a test that sees line N knows step N is
under way, whatever the console prints, and has that long to signal it mid-step.
"""

from __future__ import annotations

import os
import time

from rewards.text import completion_text


def slow_length_reward(completions, **kwargs) -> list[float]:
    """
    >>> slow_length_reward(["ab", [{"role": "assistant", "content": "abcd"}]])
    [0.02, 0.04]
    """
    marker = os.environ.get("SLOW_REWARD_MARKER")
    if marker:
        with open(marker, "a", encoding="utf-8") as handle:
            handle.write("call\n")
    time.sleep(float(os.environ.get("SLOW_REWARD_SECONDS", "0")))
    return [len(completion_text(c)) / 100 for c in completions]
