"""A reward for the stop/resume tests, named in a recipe by its dotted path.

It scores completion length, so advantages are non-zero and the weights really change each step
(an untrained model scores 0 on every task reward, which would make any two runs look identical),
and it sleeps ``SLOW_REWARD_SECONDS`` per call, so a test can signal a run in the middle of a step.
"""

from __future__ import annotations

import os
import time

from rewards._text import completion_text


def slow_length_reward(completions, **kwargs) -> list[float]:
    """
    >>> slow_length_reward(["ab", [{"role": "assistant", "content": "abcd"}]])
    [0.02, 0.04]
    """
    time.sleep(float(os.environ.get("SLOW_REWARD_SECONDS", "0")))
    return [len(completion_text(c)) / 100 for c in completions]
