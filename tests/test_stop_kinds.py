"""Why a search stops on a false `ok` (scripts/lib/measure/stops.py): one kind per crafted trace,
through the reader, the per-completion record and the summary every report prints."""

from __future__ import annotations

import math

import pytest

from scripts.lib.measure.reflection import analyze_countdown_completion, summarize_reflection
from scripts.lib.measure.stops import repeats_a_try, stop_kind
from scripts.lib.measure.trace_grammar import parse_tries

NUMS, TARGET = [3, 2, 3], 18
MISS = "<think> 3 + 3 = 6 , 6 * 2 = 12 vs 18 wait recheck ; "

CASES = [
    # (what it is, completion, kind)
    ("a true hit, answered as tried", MISS + "2 * 3 = 6 , 6 * 3 = 18 vs 18 ok </think> <answer> ( 2 * 3 ) * 3 </answer>", "true"),
    ("a true hit, answered in another order", MISS + "2 * 3 = 6 , 6 * 3 = 18 vs 18 ok </think> <answer> ( 3 * 2 ) * 3 = 18 </answer>", "true"),
    ("a true hit and no answer written", MISS + "2 * 3 = 6 , 6 * 3 = 18 vs 18 ok", "true"),
    ("a true hit, another expression answered", MISS + "2 * 3 = 6 , 6 * 3 = 18 vs 18 ok </think> <answer> ( 3 + 3 ) * 2 </answer>", "answer"),
    ("a true hit, unclosed answer of another expression", MISS + "2 * 3 = 6 , 6 * 3 = 18 vs 18 ok </think> <answer> ( 3 + 3 ) * 2", "answer"),
    ("a true hit, unreadable answer", MISS + "2 * 3 = 6 , 6 * 3 = 18 vs 18 ok </think> <answer> ( 2 * 3 ) * </answer>", "answer"),
    ("ok for unequal numbers", MISS + "3 + 2 = 5 , 5 * 3 = 15 vs 18 ok </think> <answer> ( 3 + 2 ) * 3 </answer>", "comparison"),
    ("ok for unequal numbers, and a wrong step", MISS + "3 + 2 = 5 , 5 * 3 = 16 vs 18 ok </think>", "comparison"),
    ("the written result is the target, a step is wrong", MISS + "3 * 2 = 6 , 6 + 3 = 18 vs 18 ok </think> <answer> ( 3 * 2 ) + 3 </answer>", "arithmetic"),
    ("the written result is the target, the steps do not chain", MISS + "2 * 3 = 6 , 9 * 2 = 18 vs 18 ok </think>", "arithmetic"),
    ("the target after vs is copied wrong", MISS + "3 + 3 = 6 , 6 * 2 = 12 vs 12 ok </think>", "other"),
    ("the target reached with numbers not given", MISS + "9 * 2 = 18 vs 18 ok </think> <answer> 9 * 2 </answer>", "other"),
    ("the target reached using a number twice", MISS + "3 * 3 = 9 , 9 * 2 = 18 , 18 * 1 = 18 vs 18 ok </think>", "other"),
]


@pytest.mark.parametrize("what, text, kind", CASES, ids=[c[0] for c in CASES])
def test_each_stop_has_one_kind(what, text, kind):
    tries = parse_tries(text, TARGET, NUMS)
    assert stop_kind(text, tries, TARGET) == kind
    assert analyze_countdown_completion(text, TARGET, NUMS)["stop_kind"] == kind


@pytest.mark.parametrize("text", [
    MISS + "3 + 2 = 5 , 5 * 3 = 15 vs 18 wait </think> <answer> ( 3 + 2 ) * 3 </answer>",   # gives up
    "<think> 3 + 3 = 6 , 6 * 3 = 18 </think>",                                              # never checks
    "<think> guess </think> <answer> ( 3 + 3 ) * 2 </answer>", "", None,
])
def test_traces_that_do_not_stop_on_ok_have_no_kind(text):
    assert analyze_countdown_completion(text, TARGET, NUMS)["stop_kind"] is None


def test_the_last_checked_try_decides_even_with_an_unchecked_try_after_it():
    text = MISS + "3 + 2 = 5 , 5 * 3 = 15 vs 18 ok recheck ; 2 * 3 = 6 , 6 * 3 = 18 </think>"
    assert analyze_countdown_completion(text, TARGET, NUMS)["stop_kind"] == "comparison"


def test_a_try_written_twice_is_a_repeat():
    twice = ("<think> 1 + 6 = 7 , 7 * 4 = 28 vs 24 wait recheck ; 1 + 6 = 7 , 7 * 4 = 28 vs 24 wait recheck ; "
             "1 + 4 = 5 , 5 * 6 = 30 vs 24 ok </think>")
    assert repeats_a_try(parse_tries(twice, 24, [1, 4, 6]))
    assert not repeats_a_try(parse_tries(CASES[0][1], TARGET, NUMS))
    assert analyze_countdown_completion(twice, 24, [1, 4, 6])["repeats_a_try"]


def test_the_summary_counts_the_searches_stops_by_kind():
    texts = [text for _, text, _ in CASES]
    records = [analyze_countdown_completion(t, TARGET, NUMS) for t in texts]
    # a completion that checks once and stops on a false ok is not a search: not counted
    records.append(analyze_countdown_completion("<think> 3 + 2 = 5 , 5 * 3 = 15 vs 18 ok </think>", TARGET, NUMS))
    s = summarize_reflection(records)
    assert (s["stops_true"], s["stops_answer"], s["stops_comparison"], s["stops_arithmetic"], s["stops_other"]) == (3, 3, 2, 2, 3)
    assert s["searches_stopping_on_ok"] == 13 and s["final_ok_true"] == 6 / 13
    assert (s["false_ok_comparison"], s["false_ok_arithmetic"], s["false_ok_other"]) == (2 / 7, 2 / 7, 3 / 7)
    # the case "target copied wrong" writes its first try again (`3 + 3 = 6 , 6 * 2 = 12`)
    assert s["true_ok_answer_differs"] == 3 / 6 and s["searches_repeating_a_try"] == 1 / 13


def test_no_false_ok_gives_nan_shares_not_zero():
    s = summarize_reflection([analyze_countdown_completion(CASES[0][1], TARGET, NUMS)])
    assert s["stops_true"] == 1 and math.isnan(s["false_ok_comparison"])
