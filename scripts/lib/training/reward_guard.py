"""The reward guard: a reward that breaks mid-run stops it with one line and a checkpoint.

``guard_rewards`` wraps each reward function: an exception, or a return that is not one value per
completion, becomes a ``RewardFailure`` naming the reward, the error and the start of the offending
completion; ``scripts/train.py`` then writes a checkpoint of the state after the last finished step
(``scripts.lib.runs.stopping.save_checkpoint_now``) and exits with code 2 (``--debug``: the traceback).
"""

from __future__ import annotations

import inspect
import time
from contextlib import contextmanager

from trl.trainer.utils import get_callable_name, is_async_callable

from rewards.text import completion_text
from scripts.lib.recipe.cli import UserError, first_line
from scripts.lib.runs.stopping import save_checkpoint_now, stop_report
from scripts.lib.training.console_log import quiet_checkpoint_saves


class RewardFailure(UserError):
    """A reward raised, or did not return one value per completion. ``str()``: the one line (+ report)."""

    def __init__(self, reward: str, error: str, completion: str, where: str, step: int | None,
                 max_steps: int | None):
        self.reward, self.error, self.completion, self.where = reward, error, completion, where
        self.step, self.max_steps = step, max_steps
        self.report = ""
        super().__init__(self.line())

    def line(self) -> str:
        at = f" while scoring step {self.step}/{self.max_steps}" if self.step is not None else ""
        start = self.completion.strip().replace("\n", " ")
        start = start[:80] + ("..." if len(start) > 80 else "")
        return f"reward {self.reward} {self.error}{at}, on {self.where}: {start!r}"

    def __str__(self) -> str:
        return self.line() + (f"\n{self.report}" if self.report else "")


def _text(completion) -> str:
    try:
        return completion_text(completion)
    except Exception:  # noqa: BLE001 - only for the message
        return str(completion)


class GuardedReward:
    """``reward`` with its failures turned into ``RewardFailure``; same name, same signature to TRL.

    >>> def bad(completions, **kwargs):
    ...     return [1 / len(c) for c in completions]
    >>> GuardedReward(bad)(completions=["ok", ""])
    Traceback (most recent call last):
    ...
    scripts.lib.training.reward_guard.RewardFailure: reward bad raised ZeroDivisionError: division by zero, on completion 2 of 2: ''
    """

    PROBE_SECONDS = 10.0  # at most this long re-calling row by row to find the completion that raises

    def __init__(self, reward):
        self.reward = reward
        self.__name__ = get_callable_name(reward)

    def __call__(self, *args, **kwargs):
        completions = kwargs.get("completions", args[0] if args else [])
        try:
            out = self.reward(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - any error of a user's reward is reported the same way
            index = self._probe(args, kwargs, len(completions))
            where = (f"completion {index + 1} of {len(completions)}" if index is not None
                     else f"a batch of {len(completions)} (no single completion raises alone; the first)")
            raise self._failure(f"raised {type(err).__name__}: {first_line(err)}", completions,
                                index or 0, where, kwargs) from err
        try:
            count = len(out)
        except TypeError:
            count = None
        if count != len(completions):
            got = f"{count} values" if count is not None else f"a {type(out).__name__}"
            raise self._failure(f"returned {got} for {len(completions)} completions (one each expected)",
                                completions, 0, f"the first of {len(completions)}", kwargs)
        return out

    def _probe(self, args, kwargs, n: int) -> int | None:
        """The first completion that raises on its own (each list argument cut to that row)."""
        if args or n < 2:
            return 0 if n == 1 else None
        deadline = time.monotonic() + self.PROBE_SECONDS
        for i in range(n):
            if time.monotonic() > deadline:
                return None
            row = {k: v[i:i + 1] if isinstance(v, list) and len(v) == n else v for k, v in kwargs.items()}
            try:
                self.reward(**row)
            except Exception:  # noqa: BLE001
                return i
        return None

    def _failure(self, error: str, completions, index: int, where: str, kwargs) -> RewardFailure:
        state = kwargs.get("trainer_state")
        step = state.global_step + 1 if state is not None else None
        text = _text(completions[index]) if len(completions) > index else ""
        return RewardFailure(self.__name__, error, text, where, step, getattr(state, "max_steps", None))


def guard_rewards(reward_funcs: list) -> list:
    """Each reward function wrapped in ``GuardedReward``; reward models and async rewards are left as they are."""
    return [f if isinstance(f, str) or not callable(f) or is_async_callable(f) or inspect.isclass(f)
            or hasattr(f, "forward") else GuardedReward(f) for f in reward_funcs]


@contextmanager
def checkpoint_on_reward_failure(trainer, argv: list[str]):
    """Around ``trainer.train()``: a ``RewardFailure`` (a ``UserError``: ``run_cli`` prints it as one
    ``error:`` line, exit 2) first saves a checkpoint of the last finished step, and its report says
    how to resume from it."""
    try:
        yield
    except RewardFailure as failure:
        with quiet_checkpoint_saves():
            save_checkpoint_now(trainer)
        failure.report = stop_report("the reward error", trainer.args.output_dir, trainer.state.global_step,
                                     trainer.state.max_steps, argv)
        raise
