"""Each reward's exact value on crafted completions; every case says why."""

from __future__ import annotations

import pickle

import pytest

from rewards import REWARDS, UnknownRewardError, get_reward, get_rewards
from rewards.accuracy_rewards import gsm8k_accuracy_reward
from rewards.countdown_rewards import countdown_reward
from rewards.format_rewards import format_reward, format_shaped_reward

OK = "<think> 3 + 4 = 7 </think> <answer> 7 </answer>"

FORMAT_CASES = [
    (OK, 1.0, "the exact shape"),
    ("  \n" + OK + "\n ", 1.0, "surrounding whitespace is trimmed"),
    ("<think>a</think><answer>7</answer>", 1.0, "no whitespace between blocks is fine"),
    ("<think>\nmulti\nline\n</think>\n<answer>\n7\n</answer>", 1.0, "newlines inside blocks"),
    (OK + " done", 0.0, "text after </answer>"),
    ("So: " + OK, 0.0, "text before <think>"),
    ("<think> a </think> <think> b </think> <answer> 7 </answer>", 0.0, "two think blocks"),
    ("<think> a </think> <answer> 7 </answer> <answer> 8 </answer>", 0.0, "two answers"),
    ("<think> a <answer> 7 </answer>", 0.0, "</think> missing"),
    ("<think> a </think> 7", 0.0, "no answer tags"),
    ("<answer> 7 </answer> <think> a </think>", 0.0, "wrong order"),
    ("", 0.0, "empty"),
]


@pytest.mark.parametrize("completion,expected,why", FORMAT_CASES)
def test_format_reward(completion, expected, why):
    assert format_reward([completion]) == [expected], why


def test_format_reward_reads_conversational_completions():
    assert format_reward([[{"role": "assistant", "content": OK}]]) == [1.0]


def test_format_reward_counts_a_prefilled_think_from_the_prompt():
    completion = " 3 + 4 = 7 </think> <answer> 7 </answer>"
    assert format_reward([completion], prompts=["Assistant: <think>"]) == [1.0]
    assert format_reward([completion], prompts=["Assistant:"]) == [0.0]
    # A completion that opens <think> again after a prefill has two of them.
    assert format_reward([OK], prompts=["Assistant: <think>"]) == [0.0]


@pytest.mark.parametrize("completion,expected", [
    (OK, 1.0), ("<think> a </think>", 0.5), ("<think> a", 0.25), ("nothing", 0.0),
    ("<think><think> a </think> <answer> 7 </answer>", 0.75),
])
def test_format_shaped_reward(completion, expected):
    assert format_shaped_reward([completion]) == [expected]


GSM8K_CASES = [
    ("<answer>18</answer>", "18", 1.0, "plain"),
    ("<answer> 18 </answer>", "18", 1.0, "spaces"),
    ("<answer>1,000</answer>", "1000", 1.0, "thousands separator"),
    ("<answer>$18</answer>", "18", 1.0, "currency"),
    ("<answer>18.0</answer>", "18", 1.0, "trailing .0"),
    ("<answer>+18</answer>", "18", 1.0, "leading +"),
    ("<answer>\\boxed{18}</answer>", "18", 1.0, "boxed"),
    ("<answer>18\\%</answer>", "18", 1.0, "LaTeX percent"),
    ("<answer>18%</answer>", "18", 1.0, "percent sign"),
    ("<answer>\\frac{3}{4}</answer>", "0.75", 1.0, "LaTeX fraction"),
    ("<answer>3/4</answer>", "0.75", 1.0, "simple fraction"),
    ("<answer>-5</answer>", "-5", 1.0, "negative"),
    ("<answer>17</answer>", "18", 0.0, "wrong number"),
    ("<answer>180</answer>", "18", 0.0, "not a prefix match"),
    ("<answer>1.8</answer>", "18", 0.0, "not a digit match"),
    ("The answer is 18", "18", 0.0, "no answer block: fallback is off by default"),
    ("<think>18</think> <answer>17</answer>", "18", 0.0, "only the answer block counts"),
    ("<answer>17</answer> <answer>18</answer>", "18", 1.0, "the last answer block counts"),
    ("<answer></answer>", "18", 0.0, "empty answer"),
]


@pytest.mark.parametrize("completion,gold,expected,why", GSM8K_CASES)
def test_gsm8k_accuracy_reward(completion, gold, expected, why):
    assert gsm8k_accuracy_reward([completion], solution=[gold]) == [expected], why


def test_gsm8k_unparsable_gold_is_skipped_not_zero():
    assert gsm8k_accuracy_reward(["<answer>18</answer>"], solution=["eighteen"]) == [None]


def test_gsm8k_fallback_to_last_number_is_opt_in():
    reward = get_reward("gsm8k_accuracy_reward", fallback_to_last_number=True)
    assert reward(["so it is 12, then 18"], solution=["18"]) == [1.0]
    assert gsm8k_accuracy_reward(["so it is 12, then 18"], solution=["18"]) == [0.0]


COUNTDOWN_CASES = [
    ("<answer> (2 * 3) * 3 </answer>", [3, 2, 3], 18, 1.0, "right, each number once"),
    ("<answer>3*3*2</answer>", [3, 2, 3], 18, 1.0, "no spaces or parentheses"),
    ("<answer> 3 * 3 * 2 = 18 </answer>", [3, 2, 3], 18, 1.0, "trailing '= target'"),
    ("<answer> 3 * 3 * 2 = 17 </answer>", [3, 2, 3], 18, 0.0, "trailing '= wrong'"),
    ("<answer> (8 / 3) * 3 </answer>", [8, 3, 3], 8, 1.0, "exact fractions, no float error"),
    ("<answer> 3 * 3 </answer>", [3, 2, 3], 9, 0.0, "a number unused"),
    ("<answer> 3 * 3 * 2 * 1 </answer>", [3, 2, 3], 18, 0.0, "a number not given"),
    ("<answer> 3 * 3 * 3 * 2 </answer>", [3, 2, 3], 54, 0.0, "a number used twice"),
    ("<answer> 3 * 2 + 3 </answer>", [3, 2, 3], 18, 0.0, "wrong value"),
    ("<answer> 3 / (2 - 2) </answer>", [3, 2, 2], 0, 0.0, "division by zero"),
    ("<answer> 3 ** 2 * 2 </answer>", [3, 2, 2], 18, 0.0, "power is not allowed"),
    ("<answer> -3 + 2 + 3 </answer>", [3, 2, 3], 2, 0.0, "unary minus is not an operation here"),
    ("<answer> 3.0 * 2 * 3 </answer>", [3, 2, 3], 18, 0.0, "floats are not given numbers"),
    ("(2 * 3) * 3", [3, 2, 3], 18, 0.0, "no answer block"),
    ("<answer> abs(18) </answer>", [18], 18, 0.0, "names and calls"),
]


@pytest.mark.parametrize("completion,nums,target,expected,why", COUNTDOWN_CASES)
def test_countdown_reward(completion, nums, target, expected, why):
    assert countdown_reward([completion], nums=[nums], target=[target]) == [expected], why


def test_countdown_allow_subset():
    reward = get_reward("countdown_reward", allow_subset=True)
    assert reward(["<answer> 3 * 3 </answer>"], nums=[[3, 2, 3]], target=[9]) == [1.0]
    assert reward(["<answer> 3 * 3 * 3 </answer>"], nums=[[3, 2, 3]], target=[27]) == [0.0]


@pytest.mark.parametrize("name", sorted(REWARDS))
def test_every_registered_reward_resolves_pickles_and_ignores_extra_kwargs(name):
    reward = get_reward(name)
    out = reward([OK, "junk"], prompts=["p", "p"], solution=["7", "7"], nums=[[3, 4], [3, 4]], target=[7, 7],
                 completion_ids=[[1], [2]], trainer_state=None, unexpected_column=[1, 2])
    assert len(out) == 2
    assert pickle.loads(pickle.dumps(reward)).__name__ == reward.__name__


def test_unknown_reward_lists_valid_names():
    with pytest.raises(UnknownRewardError, match="format_reward"):
        get_reward("formt_reward")


def test_dotted_import_path_resolves():
    assert get_rewards(["rewards.format_rewards.format_reward"]) == [format_reward]
