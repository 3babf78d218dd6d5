"""The reward `make bench-faults` trains with, named in its command by dotted path.

It scores completion length, so advantages are non-zero and the weights move every step (an untrained
model scores 0 on every task reward, which would make a resumed run and an uninterrupted one look equal
whatever the resume did). On the main process it appends ``<step> <time>`` to ``FAULTS_STEP_MARKER`` as
each call starts, the absolute step being trained (TRL passes ``trainer_state``; its ``global_step`` counts
finished steps): the bench knows which step a kill interrupted, whatever the console had printed.
"""

from __future__ import annotations

import os
import time

from rewards.text import completion_text


def step_marking_length_reward(completions, trainer_state=None, **kwargs) -> list[float]:
    """
    >>> step_marking_length_reward(["ab", [{"role": "assistant", "content": "abcd"}]])
    [0.02, 0.04]
    """
    marker = os.environ.get("FAULTS_STEP_MARKER")
    if marker and trainer_state is not None and os.environ.get("RANK", "0") == "0":
        with open(marker, "a", encoding="utf-8") as handle:
            handle.write(f"{trainer_state.global_step + 1} {time.time():.3f}\n")
    return [len(completion_text(c)) / 100 for c in completions]
