r"""math_accuracy_reward: exact values on crafted answers (each case says why), agreement with plain
math-verify on every fixture answer, the fast path's agreement, and hostile input."""

from __future__ import annotations

import json
import pickle
import time

import pytest

from conftest import FIXTURES
from rewards import ACCURACY_REWARD_FOR_TASK, REWARDS, get_reward
from rewards.math_rewards import (
    fast_math_verdict,
    math_accuracy_reward,
    math_answers_match,
    math_hostile_reason,
    reference_verdict,
)
from rewards.text import last_boxed
from scripts.bench.math_cases import hostile_completions

MATH = FIXTURES / "math_small.jsonl"


def answer(text: str) -> str:
    return f"<think> I work it out. </think> <answer> {text} </answer>"


CASES = [
    ("42", "42", 1.0, "same integer"),
    ("42", "042", 1.0, "leading zero: math-verify reads 42"),
    ("-7", "- 7", 1.0, "a space after the minus sign"),
    ("-7", "7", 0.0, "sign matters"),
    ("\\frac{1}{2}", "0.5", 1.0, "decimal = fraction"),
    ("\\frac{1}{2}", "\\dfrac{2}{4}", 1.0, "unreduced \\dfrac"),
    ("\\frac{1}{2}", "\\frac12", 1.0, "brace-less \\frac"),
    ("\\frac{1}{3}", "0.333333", 1.0, "math-verify rounds to 6 places: left to it, it says equal"),
    ("\\frac{1}{3}", "0.33", 0.0, "too few places"),
    ("2\\sqrt{2}", "\\sqrt{8}", 1.0, "radicals in simplest form"),
    ("\\sqrt{4}", "2", 1.0, "a perfect square is an integer"),
    ("\\sqrt{2}", "1.414214", 1.0, "math-verify compares at 6 decimals: left to it, it says equal"),
    ("\\sqrt{2}", "1.41", 0.0, "too few places"),
    ("\\pi", "3.14159", 0.0, "\\pi is not its decimal"),
    ("4\\pi", "4 \\pi", 1.0, "spacing in LaTeX"),
    ("(2,5)", "[2,5]", 0.0, "open vs closed interval"),
    ("(-\\infty, 3]", "(-\\infty,3]", 1.0, "same interval"),
    ("16\\text{ cm}", "16", 1.0, "units stripped"),
    ("120^\\circ", "120", 1.0, "degrees stripped"),
    ("x^2+2x+1", "(x+1)^2", 1.0, "equal expressions"),
    ("\\{0,1\\}", "\\{1, 0\\}", 1.0, "sets are unordered"),
    ("3, -3", "-3,3", 1.0, "a list of solutions is a set"),
    ("3", "x = 3", 1.0, "an equation x = value"),
    ("18", "\\boxed{18}", 1.0, "a \\boxed{} inside the answer block is read"),
    ("18", "I think \\boxed{17} no wait \\boxed{18}", 1.0, "the last \\boxed{} counts"),
    ("\\frac{1}{2}", "\\boxed{\\frac{1}{2}}.", 1.0, "balanced braces inside \\boxed{}"),
    ("5", "\\frac{5}{0}", 0.0, "a division by zero is no number"),
    ("\\text{(A)}", "A", 1.0, "a multiple-choice letter"),
]


@pytest.mark.parametrize("gold,text,expected,why", CASES)
def test_math_accuracy_reward(gold, text, expected, why):
    assert math_accuracy_reward([answer(text)], solution=[gold]) == [expected], why


def test_gold_from_a_worked_solution_is_its_last_box():
    # A raw MATH `solution` passed as gold is read like the data loader reads it.
    assert math_accuracy_reward([answer("9")], solution=["so $(2+1)(2+1) = \\boxed{9}$"]) == [1.0]


@pytest.mark.parametrize("completion,why", [
    ("the answer is \\boxed{7}", "no <answer> block: not read (the R1-Zero contract)"),
    ("<answer> 7", "unclosed answer block"),
    ("", "empty completion"),
])
def test_no_answer_block_scores_zero(completion, why):
    assert math_accuracy_reward([completion], solution=["7"]) == [0.0], why


@pytest.mark.parametrize("gold", [None, "", "\\boxed{", "???"])
def test_a_gold_that_cannot_be_read_gives_none(gold):
    assert math_accuracy_reward([answer("7")], solution=[gold]) == [None]


def test_extra_kwargs_chat_completions_and_broadcast():
    chat = [[{"role": "assistant", "content": answer("\\frac{3}{4}")}]]
    assert math_accuracy_reward(chat, solution="0.75", prompts=["p"], completion_ids=[[1]], level=[3]) == [1.0]


def test_reward_pickles_and_is_registered():
    assert pickle.loads(pickle.dumps(math_accuracy_reward))([answer("1")], solution=["1"]) == [1.0]
    assert REWARDS["math_accuracy_reward"] is math_accuracy_reward
    assert get_reward("math_accuracy_reward") is math_accuracy_reward
    assert ACCURACY_REWARD_FOR_TASK["math"] == "math_accuracy_reward"
    assert math_accuracy_reward.__name__ == "math_accuracy_reward"


def fixture_pairs():
    """(gold, answer, should match) for every equivalent and wrong answer in the fixture."""
    pairs = []
    for line in MATH.read_text().splitlines():
        row = json.loads(line)
        gold = row.get("answer") or last_boxed(row["solution"])
        pairs += [(gold, a, True) for a in row["equivalent"]] + [(gold, a, False) for a in row["wrong"]]
    return pairs


def test_fixture_has_equal_but_differently_written_and_non_matching_answers():
    pairs = fixture_pairs()
    assert len(pairs) >= 100
    assert sum(m for _, _, m in pairs) >= 40 and sum(not m for _, _, m in pairs) >= 40
    by_gold = {}
    for gold, a, m in pairs:
        by_gold.setdefault(gold, []).append((a, m))
    # Every problem has a right answer written differently from its gold, and a wrong one.
    assert all(any(m and a != gold for a, m in items) for gold, items in by_gold.items())
    assert all(any(not m for _, m in items) for items in by_gold.values())


@pytest.mark.parametrize("gold,text,should_match", fixture_pairs())
def test_every_fixture_answer_agrees_with_plain_math_verify_and_with_its_label(gold, text, should_match):
    ours = math_accuracy_reward([answer(text)], solution=[gold])[0]
    assert reference_verdict(gold, text) is should_match, "the fixture's label is math-verify's verdict"
    assert ours == (1.0 if should_match else 0.0)


@pytest.mark.parametrize("gold,text", [
    ("7", "7"), ("-7", "7"), ("7", "7.0"), ("0.5", "\\frac{1}{2}"), ("\\frac{2}{6}", "\\dfrac13"), ("3/4", "0.75"),
    ("-\\frac{1}{8}", "-0.125"), ("2\\sqrt{2}", "\\sqrt{8}"), ("3\\sqrt{2}", "\\sqrt{8}"), ("\\sqrt{12}", "2\\sqrt3"),
    ("\\sqrt{9}", "3"), ("0", "0\\sqrt{5}"), ("1.5", "\\frac{3}{2}"), ("10", "\\boxed{10}"), ("\\(5\\)", "$5$"),
    ("0.1", "\\frac{1}{10}"), ("100", "1e2"),
])
def test_fast_path_agrees_with_math_verify_where_it_decides(gold, text):
    fast = fast_math_verdict(gold, text)
    if fast is not None:
        assert fast == reference_verdict(gold, text)
    assert math_answers_match(gold, text) == bool(reference_verdict(gold, text))


# The bench's hostile inputs (make bench-math times the same table): one list, two uses.
HOSTILE = hostile_completions()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_scores_zero_in_milliseconds(name):
    math_accuracy_reward([answer("1")], solution=["2"])  # imports and one-time costs, not timed
    # This process's CPU time, not wall time: other processes on a loaded machine do not count.
    # Milliseconds when the input is refused early; math-verify's 1 s timeout would show here.
    started = time.process_time()
    assert math_accuracy_reward([HOSTILE[name]], solution=["18"]) == [0.0]
    assert time.process_time() - started < 0.5, name


def test_hostile_guard_leaves_ordinary_latex_to_math_verify():
    for text in ("x^3+3x^2+3x+1", "\\left( \\frac{1}{2}, \\frac{\\sqrt{3}}{2} \\right)", "2^{n+1}", "e^{i\\pi}",
                 "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "10^{10}", "120^\\circ"):
        assert math_hostile_reason(text) is None, text
