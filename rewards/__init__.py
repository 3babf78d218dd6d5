"""Reward functions, registered by name in one place.

Every reward has TRL's signature ``fn(completions, **kwargs) -> list[float | None]``: dataset
columns (``solution``, ``nums``, ``target``) arrive as keyword arguments, ``None`` means "cannot be
checked, skip", and no reward raises on any string or executes model text.

A recipe lists names from ``REWARDS`` (or dotted import paths to your own functions), with one
weight each; rewards with settings read them from the recipe (``reward_settings()`` in
``scripts/lib/recipe/arguments.py``):

    reward_funcs: [format_reward, countdown_reward, repetition_penalty_reward]
    reward_weights: [0.5, 1.0, 0.2]
    repetition_n_grams: 3
"""

from __future__ import annotations

import importlib
import inspect

from rewards.accuracy_rewards import GSM8KAccuracyReward, gsm8k_accuracy_reward
from rewards.countdown_rewards import CountdownReward, countdown_reward
from rewards.format_rewards import format_reward, format_shaped_reward
from rewards.math_rewards import math_accuracy_reward
from rewards.other_rewards import CosineScaledAccuracyReward, RepetitionPenaltyReward, SoftOverlongPunishmentReward

# name -> reward function, or a class whose keyword arguments come from the recipe.
REWARDS = {
    "format_reward": format_reward,
    "format_shaped_reward": format_shaped_reward,
    "gsm8k_accuracy_reward": GSM8KAccuracyReward,
    "math_accuracy_reward": math_accuracy_reward,
    "countdown_reward": CountdownReward,
    "cosine_scaled_accuracy_reward": CosineScaledAccuracyReward,
    "repetition_penalty_reward": RepetitionPenaltyReward,
    "soft_overlong_punishment_reward": SoftOverlongPunishmentReward,
}

# Which reward answers "is it correct?" for each task (used by evaluation and the tracker).
ACCURACY_REWARD_FOR_TASK = {"gsm8k": "gsm8k_accuracy_reward", "arithmetic": "gsm8k_accuracy_reward",
                            "countdown": "countdown_reward",
                            "math": "math_accuracy_reward"}


class UnknownRewardError(ValueError):
    pass


def get_reward(name: str, **settings):
    """The reward called ``name``, built with ``settings`` (each must be one its constructor takes).

    Unknown names fall back to a dotted import path (``my_pkg.my_module.my_reward``); if that fails
    too, the error lists every registered name.

    >>> get_reward("countdown_reward", allow_subset=True).allow_subset
    True
    >>> get_reward("format_reward", max_len=10)
    Traceback (most recent call last):
    ...
    rewards.UnknownRewardError: reward format_reward has no setting `max_len` (it takes none)
    """
    entry = REWARDS.get(name)
    if entry is None and "." in name:
        module_name, _, attr = name.rpartition(".")
        try:
            entry = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            entry = None
    if entry is None:
        raise UnknownRewardError(
            f"unknown reward {name!r}: use one of {sorted(REWARDS)} or a dotted import path to your function"
        )
    accepted = set(inspect.signature(entry).parameters) if inspect.isclass(entry) else set()
    for key in settings:
        if key not in accepted:
            raise UnknownRewardError(
                f"reward {name} has no setting `{key}` (it takes {', '.join(sorted(accepted)) or 'none'})")
    return entry(**settings) if inspect.isclass(entry) else entry


def get_rewards(names, settings: dict[str, dict] | None = None) -> list:
    """The rewards called ``names``; ``settings`` maps a reward name to its constructor settings."""
    return [get_reward(name, **(settings or {}).get(name, {})) for name in names]


__all__ = [
    "ACCURACY_REWARD_FOR_TASK",
    "CosineScaledAccuracyReward",
    "CountdownReward",
    "GSM8KAccuracyReward",
    "RepetitionPenaltyReward",
    "SoftOverlongPunishmentReward",
    "REWARDS",
    "UnknownRewardError",
    "countdown_reward",
    "format_reward",
    "format_shaped_reward",
    "get_reward",
    "get_rewards",
    "gsm8k_accuracy_reward",
    "math_accuracy_reward",
]
