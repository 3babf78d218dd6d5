"""Hostile answers by the batch: every registered reward, 64 completions of each hostile kind, in the
main thread and in a worker thread (where math-verify's signal.alarm timeout does not work).

Values and paths only; the time per completion is ``make bench-hostile`` (scripts/bench/hostile.py).
"""

from __future__ import annotations

import pytest

import rewards.accuracy_rewards as accuracy_rewards
import rewards.math_rewards as math_rewards
from rewards import REWARDS
from rewards.accuracy_rewards import hostile_reason
from rewards.math_rewards import math_hostile_reason
from scripts.bench.hostile_cases import BATCH, hostile_kinds, run_all, score_batch
from scripts.bench.rewards_cases import hostile_calls

KINDS = hostile_kinds()
# Kinds that hide the right answer (18, the gold of every call) in junk: a well-formed answer block
# in 10^6 characters of thinking, after bytes that are not UTF-8, or among unbalanced tags.
HIDE_18 = {"10^6 chars inside think", "invalid UTF-8 (surrogateescape)", "unbalanced tags"}
# Answers whose exact value costs seconds to unbounded time in sympy: the guards must score them 0
# before math-verify is called (a worker thread has no timeout to stop it).
COSTLY = ["9!!!!!!!! (factorial chain)", "((9!)!)! (nested factorials)", "$9!!!!$ (latex factorial chain)",
          "\\boxed{9!!!} (boxed chain)", "9!^{9!} (factorial exponent)", "9^9! (factorial of a power)",
          "9**9**9**9", "9^9^9^9 (latex)", "10**(10**6)", "1000000! (latex)", "binomial (latex)",
          "10,000-deep nesting", "power tower 9^{9^{9^9}}", "10^{100000}", "100000!", "200-deep \\frac"]


def test_the_table_has_every_kind_the_issue_names():
    assert len(KINDS) >= 35
    assert set(COSTLY) <= set(KINDS) and HIDE_18 <= set(KINDS)
    assert any(len(text) >= 10**6 for text in KINDS.values())  # megabyte strings
    assert any("\udcff" in text for text in KINDS.values())  # undecodable bytes, as surrogateescape gives them
    assert {label for label in KINDS if "lone surrogates" in label or "unbalanced" in label}


@pytest.mark.parametrize("in_thread", [False, True], ids=["main thread", "worker thread"])
def test_every_reward_scores_a_batch_of_each_hostile_kind_without_raising(in_thread):
    seen = set()
    for name, label, scores, _, error in run_all(BATCH, in_thread=in_thread):
        seen.add(name)
        assert error is None, (name, label, error)
        if name in ("gsm8k_accuracy_reward", "math_accuracy_reward"):
            assert scores == [1.0 if label in HIDE_18 else 0.0] * BATCH, (name, label)
        elif name == "countdown_reward":  # a bare 18 is no equation over 3 2 3
            assert scores == [0.0] * BATCH, (name, label)
        elif name == "cosine_scaled_accuracy_reward":  # wrong: a negative, length-scaled score
            assert all(s < 0 for s in scores) != (label in HIDE_18), (name, label)
    assert seen == set(REWARDS)


@pytest.mark.parametrize("label", COSTLY)
def test_costly_answers_are_scored_zero_without_asking_math_verify(label, monkeypatch):
    asked = []
    real = accuracy_rewards.math_verify_verdict

    def recording(gold, answer, *args, **kwargs):
        asked.append(answer)
        return real(gold, answer, *args, **kwargs)

    monkeypatch.setattr(accuracy_rewards, "math_verify_verdict", recording)
    monkeypatch.setattr(math_rewards, "math_verify_verdict", recording)
    for name, reward, columns in hostile_calls():
        if name in ("gsm8k_accuracy_reward", "math_accuracy_reward", "cosine_scaled_accuracy_reward"):
            scores, _, error = score_batch(reward, columns, KINDS[label], batch=4, in_thread=True, limit_s=120)
            assert error is None and len(scores) == 4, (name, error)
            if name != "cosine_scaled_accuracy_reward":
                assert scores == [0.0] * 4, name
    assert asked == [], f"{label} reached math-verify: {asked[:1]}"


@pytest.mark.parametrize("answer", ["9!!", "9!!!!!!!!", "((9!)!)!", "(9!)!", "$9!!!!$", "9! !", "9^{9!}", "9^9!",
                                    "9!^{9!}", "2^{3}!"])
def test_factorial_chains_and_factorial_exponents_are_hostile_for_both_guards(answer):
    assert hostile_reason(answer) is not None
    assert math_hostile_reason(answer) is not None


@pytest.mark.parametrize("answer", ["5!", "10!", "\\frac{10!}{2}", "3! \\cdot 2^{4}", "n!", "2^{10}"])
def test_small_factorials_and_powers_still_reach_math_verify(answer):
    assert hostile_reason(answer) is None
    assert math_hostile_reason(answer) is None
