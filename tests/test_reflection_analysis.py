"""Does reflection pay? The trace parser, per-completion records, aggregates and verdict, on crafted text."""

from __future__ import annotations

import math

import pytest

from scripts.lib.measure.reflection import analyze_countdown_completion, reflection_verdict, summarize_reflection
from scripts.lib.measure.trace_grammar import parse_tries

NUMS, TARGET = [3, 2, 3], 18
# A search that goes back once and finds the solution, answered right.
SEARCH_RIGHT = ("<think> 3 + 3 = 6 , 6 * 2 = 12 vs 18 wait recheck ; 2 * 3 = 6 , 6 * 3 = 18 vs 18 ok </think> "
                "<answer> ( 2 * 3 ) * 3 </answer>")
# A search that goes back twice and never hits; answers the closest (wrong).
SEARCH_MISS = ("<think> 2 + 3 = 5 , 5 * 3 = 15 vs 18 wait recheck ; 3 + 3 = 6 , 6 + 2 = 8 vs 18 wait recheck ; "
               "3 - 2 = 1 , 1 * 3 = 3 vs 18 wait </think> <answer> ( 2 + 3 ) * 3 </answer>")
# Lazy, unchecked, right at the first try.
LAZY_RIGHT = "<think> 2 * 3 = 6 , 6 * 3 = 18 </think> <answer> ( 2 * 3 ) * 3 </answer>"
# A bare guess, wrong.
GUESS_WRONG = "<think> guess </think> <answer> ( 3 - 2 ) - 3 </answer>"
# Finds the solution, then copies it wrong into the answer; the answer block is unclosed.
FOUND_LOST = "<think> 3 + 2 = 5 , 5 + 3 = 8 vs 18 wait recheck ; 3 * 3 = 9 , 9 * 2 = 18 vs 18 ok </think> <answer> ( 3 * 3"
# Dishonest: wrong arithmetic, a false ok, then answers after a failed check without going back.
DISHONEST = "<think> 3 * 2 = 5 , 5 + 3 = 18 vs 18 ok recheck ; 3 + 3 = 6 , 6 * 2 = 12 vs 18 wait </think> <answer> 1 </answer>"


def test_parse_tries_exact():
    tries = parse_tries(SEARCH_MISS, TARGET, NUMS)
    assert [t["value"] for t in tries] == [15, 8, 3]
    assert [t["verdict"] for t in tries] == ["wait", "wait", "wait"]
    assert all(t["arithmetic_true"] and t["check_true"] and not t["hit"] for t in tries)
    assert tries[0]["expression"] == "2 + 3 = 5 , 5 * 3 = 15"

    lazy = parse_tries(LAZY_RIGHT, TARGET, NUMS)
    assert len(lazy) == 1 and lazy[0]["verdict"] is None and lazy[0]["check_true"] is None and lazy[0]["hit"]

    bad = parse_tries(DISHONEST, TARGET, NUMS)
    assert [(t["arithmetic_true"], t["check_true"], t["hit"]) for t in bad] == [(False, True, False), (True, True, False)]


def test_a_broken_chain_is_not_true_arithmetic():
    # 7 is not the 6 just computed: the try does not compute what it claims.
    (t,) = parse_tries("3 + 3 = 6 , 7 * 2 = 14 vs 14 ok", 14)
    assert not t["arithmetic_true"] and t["check_true"] and not t["hit"]


def test_only_the_think_part_is_parsed():
    text = "<think> 3 + 3 = 6 , 6 * 2 = 12 vs 18 wait </think> <answer> 2 * 9 = 18 </answer>"
    assert len(parse_tries(text, TARGET)) == 1


def test_per_completion_records_exact():
    r = analyze_countdown_completion(SEARCH_RIGHT, TARGET, NUMS, correct=1.0, formatted=1.0)
    assert (r["tries"], r["checked_tries"], r["failed_checks"], r["went_back_after_failed"]) == (2, 2, 1, 1)
    assert r["searched"] and r["hit_in_think"] and r["wrong_to_right"] and not r["right_to_wrong"]
    assert (r["true_claims"], r["claims"], r["arithmetic_errors"]) == (6, 6, 0)

    r = analyze_countdown_completion(SEARCH_MISS, TARGET, NUMS, correct=0.0, formatted=1.0)
    assert (r["tries"], r["failed_checks"], r["went_back_after_failed"], r["searched"]) == (3, 3, 2, True)
    assert not r["hit_in_think"] and not r["wrong_to_right"] and not r["right_to_wrong"]

    r = analyze_countdown_completion(LAZY_RIGHT, TARGET, NUMS, correct=1.0, formatted=1.0)
    assert r["first_try_hit"] and not r["searched"] and not r["hit_in_think"]   # unconfirmed
    assert not r["wrong_to_right"] and not r["right_to_wrong"]

    r = analyze_countdown_completion(FOUND_LOST, TARGET, NUMS, correct=0.0, formatted=0.0)
    assert r["searched"] and r["hit_in_think"] and not r["wrong_to_right"]

    r = analyze_countdown_completion(DISHONEST, TARGET, NUMS, correct=0.0, formatted=1.0)
    # the false `ok` is not a failed check; the final `wait` is followed by nothing
    assert (r["failed_checks"], r["went_back_after_failed"], r["searched"]) == (1, 0, False)
    assert (r["true_claims"], r["claims"], r["arithmetic_errors"]) == (4, 6, 1)

    r = analyze_countdown_completion("<think> 2 * 3 = 6 , 6 * 3 = 18 vs 18 ok </think> <answer> 5 </answer>",
                                     TARGET, NUMS, correct=0.0)
    assert r["right_to_wrong"] and r["first_try_hit"] and r["hit_in_think"]


def test_summary_exact():
    texts = [SEARCH_RIGHT, SEARCH_MISS, LAZY_RIGHT, GUESS_WRONG, FOUND_LOST, DISHONEST]
    correct = [1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    formats = [1.0, 1.0, 1.0, 1.0, 0.0, 1.0]
    records = [analyze_countdown_completion(t, TARGET, NUMS, correct=c, formatted=f)
               for t, c, f in zip(texts, correct, formats)]
    s = summarize_reflection(records, split="searched")
    assert s["n"] == 6 and s["searching"] == 3 and s["searched_share"] == 0.5 and s["split"] == "searched"
    assert "self_check_share" not in s
    assert s["accuracy"] == pytest.approx(2 / 6)
    assert s["accuracy_searching"] == pytest.approx(1 / 3) and s["accuracy_rest"] == pytest.approx(1 / 3)
    assert s["accuracy_ratio"] == pytest.approx(1.0)
    assert s["format"] == pytest.approx(5 / 6) and s["accuracy_well_formatted"] == pytest.approx(2 / 5)
    # tries: 2 + 3 + 1 + 0 + 2 + 2 = 10; failed checks 1 + 3 + 0 + 0 + 1 + 1 = 6; went back 1 + 2 + 1 = 4
    assert s["tries_mean"] == pytest.approx(10 / 6)
    assert (s["failed_checks"], s["went_back_after_failed"]) == (6, 4)
    assert s["p_go_back_given_failed"] == pytest.approx(4 / 6)
    assert s["arithmetic_error_rate"] == pytest.approx(1 / 10)
    assert s["first_try_accuracy"] == pytest.approx(1 / 6)        # only LAZY_RIGHT
    assert s["wrong_to_right"] == pytest.approx(1 / 6) and s["right_to_wrong"] == 0.0
    # hits in think: SEARCH_RIGHT and FOUND_LOST, both searching
    assert (s["hits_searching"], s["hits_rest"]) == (2, 0)
    assert s["hit_in_think_searching"] == pytest.approx(2 / 3) and s["hit_in_think_rest"] == 0.0
    assert s["hit_ratio"] == math.inf


def test_summary_of_keyword_records_and_empty_input():
    s = summarize_reflection([{"correct": True, "self_check": True}, {"correct": None, "self_check": False}])
    assert s["accuracy"] == 1.0 and math.isnan(s["accuracy_rest"]) and math.isnan(s["accuracy_ratio"])
    assert "hit_in_think" not in s
    empty = summarize_reflection([])
    assert empty["n"] == 0 and math.isnan(empty["self_check_share"])
    assert reflection_verdict(empty)[0] == "absent"


def test_verdicts():
    pays = {"n": 512, "self_checking": 50, "self_check_share": 50 / 512, "hits_self_checking": 10, "hits_rest": 10}
    verdict, numbers = reflection_verdict(pays)
    assert verdict == "present and pays" and numbers["measure"] == "hit_in_think"
    assert numbers["split_rate"] == 0.2 and numbers["rest_rate"] == pytest.approx(10 / 462)
    assert reflection_verdict({**pays, "hits_self_checking": 1})[0] == "present but does not pay"
    assert reflection_verdict({**pays, "self_checking": 4, "self_check_share": 4 / 512})[0] == "absent"
    # free text: accuracy is the measure
    keyword = summarize_reflection([{"correct": i < 30, "self_check": True} for i in range(50)]
                                   + [{"correct": i < 50, "self_check": False} for i in range(450)])
    verdict, numbers = reflection_verdict(keyword)
    assert verdict == "present and pays" and numbers["measure"] == "accuracy"
    assert numbers["split_rate"] == 0.6 and numbers["rest_rate"] == pytest.approx(50 / 450)


@pytest.mark.parametrize("text", [None, "", 12, "vs vs vs ok", "= = , , wait", "1 + = 2", "9" * 50_000,
                                  "<think>" * 1000 + "1 + 1 = 2 vs x ok", "-0 - -0 = 0 , 0 / 0 = 0 vs 0 ok",
                                  "99999999999 * 2 = 3 vs 3 ok"])
def test_never_raises(text):
    tries = parse_tries(text, TARGET, NUMS)
    record = analyze_countdown_completion(text, TARGET, NUMS, correct=None)
    assert isinstance(tries, list) and record["tries"] == len(tries)
    assert analyze_countdown_completion(text, "not a number", ["x"])["tries"] == len(parse_tries(text))
    summarize_reflection([record, "junk", None])


def test_searched_is_tries_based_and_self_check_is_keyword_based():
    # Two names, two measures. A search with no reflection phrase: goes back after a failed check
    # (`wait ;`), but writes none of the recipe's phrases.
    from scripts.lib.measure.reflection import reflection_records, verdict_line

    silent_search = ("<think> 3 + 3 = 6 , 6 * 2 = 12 vs 18 wait ; 2 * 3 = 6 , 6 * 3 = 18 vs 18 ok </think> "
                     "<answer> ( 2 * 3 ) * 3 </answer>")
    # A keyword with no search: one try, confirmed, no failed check to go back from.
    keyword_only = "<think> let me check 2 * 3 = 6 , 6 * 3 = 18 vs 18 ok </think> <answer> ( 2 * 3 ) * 3 </answer>"
    records = reflection_records([silent_search, keyword_only], [1.0, 1.0], task="countdown", targets=[TARGET] * 2,
                                 nums=[NUMS] * 2, phrases=["let me check"])
    assert [(r["searched"], r["self_check"]) for r in records] == [(True, False), (False, True)]
    # The search rows count searches (tries-based) whatever the split: the silent search is the one search.
    by_keyword = summarize_reflection(records)
    assert by_keyword["self_check_share"] == 0.5 and by_keyword["hits_self_checking"] == 1
    assert by_keyword["searches_stopping_on_ok"] == 1 and by_keyword["searches_without_hit"] == 0.0
    by_search = summarize_reflection(records, split="searched")
    assert by_search["searched_share"] == 0.5 and by_search["hits_searching"] == 1
    assert "completions search (go back after a failed check)" in verdict_line(by_search)
    assert "completions self-check" in verdict_line(by_keyword)
