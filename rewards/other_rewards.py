r"""Optional rewards open-r1 users expect: length-aware (cosine-scaled) accuracy, a repetition penalty,
and DAPO's soft overlong punishment.

All three measure length in completion tokens, so they read the ``completion_ids`` that ``GRPOTrainer``
passes to every reward function.

``cosine_scaled_accuracy_reward`` rescales the task's accuracy reward (every task's: countdown, gsm8k,
arithmetic, math) by length with the cosine
schedule of TRL's ``get_cosine_scaled_reward`` ("Demystifying Long Chain-of-Thought Reasoning",
appendix C.1): a right answer earns ``max_value_correct`` when short, falling to
``min_value_correct`` at ``max_len`` tokens; a wrong one earns ``min_value_wrong`` when short,
rising to ``max_value_wrong`` at ``max_len`` (a long wrong attempt is punished less, which keeps
exploration alive). Past ``max_len`` the value stays at the long end.

>>> reward = CosineScaledAccuracyReward(task="gsm8k", max_len=100)
>>> reward(["<answer>18</answer>", "<answer>18</answer>", "<answer>17</answer>", "<answer>17</answer>"],
...        solution=["18"] * 4, completion_ids=[[0] * 0, [0] * 50, [0] * 0, [0] * 50])
[1.0, 0.75, -1.0, -0.75]

TRL's own class reads correctness from ``\boxed{}`` anywhere in the completion with its
``accuracy_reward``, which is not our ``<answer>`` rule, and its correctness check cannot be swapped,
so this class applies the same formula (checked against TRL's in the tests) to our accuracy.

``repetition_penalty_reward`` is TRL's ``get_repetition_penalty_reward`` as is ("Demystifying Long
CoT", appendix C.2): ``max_penalty`` times the share of repeated token n-grams, 0 for none.

>>> RepetitionPenaltyReward(ngram_size=2)(["a", "b"], completion_ids=[[1, 2, 3, 4], [5, 5, 5, 5, 5]])
[0.0, -0.75]

``soft_overlong_punishment_reward`` is TRL's ``get_soft_overlong_punishment`` as is: DAPO's overlong
reward shaping (Yu et al. 2025, arXiv:2503.14476, Eq. 13). With ``L_max`` = ``max_completion_len`` and
``L_cache`` = ``soft_punish_cache``: 0 up to ``L_max - L_cache`` tokens, then falling linearly to -1 at
``L_max``, -1 beyond. DAPO adds it to the answer reward (verl's ``overlong_buffer``: len 4096, penalty
factor 1.0 on a 20,480-token limit).

>>> overlong = SoftOverlongPunishmentReward(max_completion_len=100, soft_punish_cache=20)
>>> overlong(["a"] * 4, completion_ids=[[0] * 80, [0] * 90, [0] * 100, [0] * 101])
[0.0, -0.5, -1.0, -1.0]
"""

from __future__ import annotations

import math

from rewards.accuracy_rewards import GSM8KAccuracyReward
from rewards.countdown_rewards import CountdownReward
from rewards.math_rewards import math_accuracy_reward


def _completion_ids(name: str, completion_ids, n: int) -> list:
    if completion_ids is None or len(completion_ids) != n:
        raise ValueError(f"{name} needs completion_ids, one list of token ids per completion (GRPOTrainer passes them)")
    return completion_ids


class CosineScaledAccuracyReward:
    """The task's accuracy reward, scaled by completion length on a cosine schedule (values above)."""

    __name__ = "cosine_scaled_accuracy_reward"

    def __init__(self, task: str = "countdown", max_len: int = 1000, min_value_wrong: float = -1.0,
                 max_value_wrong: float = -0.5, min_value_correct: float = 0.5, max_value_correct: float = 1.0,
                 allow_subset: bool = False, fallback_to_last_number: bool = False):
        # The task's own accuracy reward, as rewards/__init__.py's ACCURACY_REWARD_FOR_TASK names it
        # (a test keeps the two in step; importing it here would be circular).
        accuracy = {"countdown": lambda: CountdownReward(allow_subset=allow_subset),
                    "gsm8k": lambda: GSM8KAccuracyReward(fallback_to_last_number=fallback_to_last_number),
                    "arithmetic": lambda: GSM8KAccuracyReward(fallback_to_last_number=fallback_to_last_number),
                    "math": lambda: math_accuracy_reward}
        if task not in accuracy:
            raise ValueError(f"cosine_scaled_accuracy_reward: unknown task {task!r}, use one of {sorted(accuracy)}")
        if max_len <= 0:
            raise ValueError(f"cosine_scaled_accuracy_reward: max_len must be positive, got {max_len}")
        self.accuracy = accuracy[task]()
        self.max_len = max_len
        self.min_value_wrong, self.max_value_wrong = min_value_wrong, max_value_wrong
        self.min_value_correct, self.max_value_correct = min_value_correct, max_value_correct

    def __call__(self, completions, completion_ids=None, **kwargs) -> list[float | None]:
        ids = _completion_ids(self.__name__, completion_ids, len(completions))
        rewards: list[float | None] = []
        for correct, tokens in zip(self.accuracy(completions, **kwargs), ids):
            if correct is None:
                rewards.append(None)
                continue
            # TRL's formula: clamp at max_len, since cos is periodic and would climb back up.
            cosine = math.cos(min(len(tokens) / self.max_len, 1.0) * math.pi)
            if correct:
                low, high = self.min_value_correct, self.max_value_correct
            else:
                low, high = self.max_value_wrong, self.min_value_wrong
            rewards.append(float(low + 0.5 * (high - low) * (1.0 + cosine)))
        return rewards


class RepetitionPenaltyReward:
    """TRL's ``get_repetition_penalty_reward(ngram_size, max_penalty)`` with settings from the recipe."""

    __name__ = "repetition_penalty_reward"

    def __init__(self, ngram_size: int = 3, max_penalty: float = -1.0):
        from trl.rewards import get_repetition_penalty_reward

        if ngram_size < 1:
            raise ValueError(f"repetition_penalty_reward: ngram_size must be at least 1, got {ngram_size}")
        self.penalty = get_repetition_penalty_reward(ngram_size=ngram_size, max_penalty=max_penalty)

    def __call__(self, completions, completion_ids=None, **kwargs) -> list[float]:
        return self.penalty(_completion_ids(self.__name__, completion_ids, len(completions)))


class SoftOverlongPunishmentReward:
    """TRL's ``get_soft_overlong_punishment(max_completion_len, soft_punish_cache)`` with settings from the
    recipe (``overlong_max_len``, 0: the recipe's ``max_completion_length``; ``overlong_cache``). The recipe
    parser checks ``0 < overlong_cache < overlong_max_len``; the class takes TRL's values as they come."""

    __name__ = "soft_overlong_punishment_reward"

    def __init__(self, max_completion_len: int = 0, soft_punish_cache: int = 0):
        from trl.rewards import get_soft_overlong_punishment

        self.max_completion_len, self.soft_punish_cache = max_completion_len, soft_punish_cache
        self.penalty = get_soft_overlong_punishment(max_completion_len=max_completion_len,
                                                    soft_punish_cache=soft_punish_cache)

    def __call__(self, completions, completion_ids=None, **kwargs) -> list[float]:
        return self.penalty(_completion_ids(self.__name__, completion_ids, len(completions)))
