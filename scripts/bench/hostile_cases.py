"""Every registered reward on batches of hostile completions: the scores, and the time per completion.

The kinds are the two reward benches' hostile tables (``rewards_cases.hostile_completions``: huge
numbers, towers of powers, chains of factorials, deep nesting, megabyte strings, invalid UTF-8, lone
surrogates, unbalanced tags; ``math_cases.hostile_completions``: the same for MATH answers), one
table, not copied. ``score_batch`` runs one reward on ``batch`` copies of one kind, in the calling
thread or in a worker thread: math-verify's own timeout is ``signal.alarm``, which works only in the
main thread, so in a worker (TRL may call rewards from one) only the rewards' guards bound the time.
"""

from __future__ import annotations

import math
import threading

from scripts.bench.common import clock
from scripts.bench.math_cases import hostile_completions as math_hostile
from scripts.bench.rewards_cases import hostile_calls
from scripts.bench.rewards_cases import hostile_completions as reward_hostile

BATCH = 64


def hostile_kinds() -> dict[str, str]:
    """Label -> completion: both benches' tables, each text once."""
    kinds, seen = {}, set()
    for table in (reward_hostile(), math_hostile()):
        for label, text in table.items():
            if text not in seen:
                seen.add(text)
                kinds[label] = text
    return kinds


def _batch_call(reward, columns: dict, text: str, batch: int, max_ids: int):
    # Token ids are bounded by max_completion_length in training, not by the text's size.
    ids = [ord(c) % 50 for c in text[:max_ids]]
    kwargs = {key: value * batch for key, value in columns.items()}
    return lambda: reward([text] * batch, completion_ids=[ids] * batch, prompts=["p"] * batch, **kwargs)


def score_batch(reward, columns: dict, text: str, batch: int = BATCH, max_ids: int = 192,
                in_thread: bool = False, limit_s: float = 60.0) -> tuple[list | None, float, str | None]:
    """(scores, CPU ms per completion, error) of one batched call; in a worker thread if ``in_thread``.

    A worker that has not returned after ``limit_s`` is reported as an error (``hung``) and left
    running as a daemon: there is no way to stop a thread stuck in sympy.
    """
    call = _batch_call(reward, columns, text, batch, max_ids)
    result: dict = {}

    def timed():
        started = clock()
        try:
            result["scores"] = call()
        except Exception as err:  # noqa: BLE001 - a reward that raises is what this looks for
            result["error"] = f"raised {type(err).__name__}: {str(err)[:80]}"
        result["ms"] = (clock() - started) * 1000 / batch

    if not in_thread:
        timed()
    else:
        worker = threading.Thread(target=timed, daemon=True)
        worker.start()
        worker.join(limit_s)
        if worker.is_alive():
            return None, limit_s * 1000 / batch, f"hung: no answer after {limit_s:.0f} s"
    return result.get("scores"), result["ms"], result.get("error")


def bad_scores(name: str, scores: list | None, batch: int) -> str | None:
    """Why ``scores`` is not a valid answer of a reward to ``batch`` hostile completions, or None.

    One finite number (or None: cannot be checked) per completion. Which value each kind must get is
    tests/test_hostile_batch.py's business; some kinds hide a right answer (``18``) in the junk.

    >>> bad_scores("format_reward", [0.0, None], 2), bad_scores("format_reward", [0.0], 2)
    (None, '1 scores for 2 completions')
    >>> bad_scores("gsm8k_accuracy_reward", [float("nan"), 0.0], 2)
    'score nan is not a finite number'
    """
    if scores is None or len(scores) != batch:
        return f"{'no' if scores is None else len(scores)} scores for {batch} completions"
    for score in scores:
        if score is None:
            continue
        if not isinstance(score, (int, float)) or not math.isfinite(score):
            return f"score {score!r} is not a finite number"
    return None


def run_all(batch: int = BATCH, max_ids: int = 192, in_thread: bool = False):
    """Yield (reward name, kind, scores, ms per completion, error) for every reward and kind."""
    kinds = hostile_kinds()
    for name, reward, columns in hostile_calls():
        for label, text in kinds.items():
            scores, ms, error = score_batch(reward, columns, text, batch, max_ids, in_thread)
            yield name, label, scores, ms, error or bad_scores(name, scores, batch)
