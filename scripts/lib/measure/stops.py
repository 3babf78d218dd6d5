"""Why a search stops on a false ``ok``: the kind of each search's stop, read from its text.

A search (a completion that goes back after a failed check) that stops on ``ok`` claims a solution.
``final_ok_true`` (``scripts/lib/measure/reflection.py``) says how often the claim is true; this
module says, for each stop, what went wrong, so a lever can be chosen for the error that is there:

* ``true``: the last checked try is a true solution (right arithmetic, the given numbers, the
  target) confirmed by a true check, and the answer is that try (or there is no answer to read);
* ``answer``: the final ``ok`` is true, but the answer written after ``</think>`` is another
  expression (lost between the search and the answer);
* ``comparison``: ``ok`` for unequal numbers: the try's written value is not the number after ``vs``
  (``36 + 6 = 42 vs 78 ok``);
* ``arithmetic``: the written result is the target and the check agrees, but a step of the try is
  wrong (``5 * 3 = 18 vs 18 ok``) or does not continue from the previous result;
* ``other``: the rest of the false ``ok``s: the number after ``vs`` is not the target
  (``42 vs 42 ok`` for target 78), or the try reaches the target with numbers that are not the
  given ones each once (``9 * 2 = 18`` when 9 is not given).

The kinds are exclusive: a true final ``ok`` is ``true`` or ``answer``; a false one is checked for
``comparison``, then ``arithmetic``, then ``other``, so it has one cause, the first the text shows.
(Issue 35 names "the answer differs from the last try" among the false ``ok``s; the answer is read
only after a true ``ok`` here, because a false ``ok``'s cause is already in its try.)

>>> from scripts.lib.measure.trace_grammar import parse_tries
>>> text = "<think> 3 + 4 = 7 , 7 * 6 = 42 vs 78 ok </think> <answer> ( 3 + 4 ) * 6 </answer>"
>>> stop_kind(text, parse_tries(text, 78, [3, 4, 6]), 78)
'comparison'
"""

from __future__ import annotations

from rewards.countdown_rewards import evaluate_equation
from rewards.text import extract_answer
from scripts.lib.measure.trace_grammar import ANSWER, CONFIRMED, THINK_END

STOP_KINDS = ("true", "answer", "comparison", "arithmetic", "other")
FALSE_OK_KINDS = ("comparison", "arithmetic", "other")


def written_answer(text) -> str | None:
    """The answer expression as written: the last complete ``<answer>`` block, else the text after an
    unclosed ``<answer>``, else after ``</think>``; None when there is none (or it is empty).

    >>> written_answer("<think> guess </think> <answer> ( 2 * 3 ) * 3"), written_answer("<think> 1 + 2 = 3")
    ('( 2 * 3 ) * 3', None)
    """
    if not isinstance(text, str):
        return None
    answer = extract_answer(text)
    if answer is None:
        for tag in (ANSWER, THINK_END):
            start = text.rfind(tag)
            if start >= 0:
                answer = text[start + len(tag):].replace("</answer>", " ")
                break
    answer = (answer or "").strip()
    return answer or None


def answer_differs(answer: str | None, try_: dict) -> bool:
    """True if an answer is written and it is not the try (a true solution, as ``parse_tries`` reads
    it): another value or other numbers. ``( 3 * 2 ) * 3`` is the try ``2 * 3 = 6 , 6 * 3 = 18``; an
    answer that cannot be read as arithmetic differs. An answer ``= target`` is read as the reward reads it.

    >>> t = {"numbers": [2, 3, 3], "value": 18}
    >>> answer_differs("( 3 * 2 ) * 3", t), answer_differs("( 3 + 3 ) * 2 = 12", t), answer_differs("hm", t)
    (False, True, True)
    """
    if answer is None:
        return False
    if answer.count("=") == 1:
        answer = answer.partition("=")[0]
    read = evaluate_equation(answer)
    if read is None:
        return True
    value, used = read
    return sorted(used) != sorted(try_["numbers"]) or value != try_["value"]


def stop_kind(text, tries: list[dict], target) -> str | None:
    """The kind (``STOP_KINDS``) of a trace's stop, or None when its last checked try is not ``ok``.

    ``tries``: ``parse_tries(text, target, nums)`` (the numbers were checked there).
    """
    checked = [t for t in tries if t["verdict"] is not None]
    if not checked or checked[-1]["verdict"] != CONFIRMED:
        return None
    last = checked[-1]
    if last["hit"] and last["check_true"]:
        return "answer" if answer_differs(written_answer(text), last) else "true"
    if last["value"] != last["claimed_target"]:
        return "comparison"
    try:
        wrote_target = last["claimed_target"] == int(target)
    except (TypeError, ValueError, OverflowError):
        wrote_target = False
    if wrote_target and not last["arithmetic_true"]:
        return "arithmetic"
    return "other"


def repeats_a_try(tries: list[dict]) -> bool:
    """True if the trace writes the same try twice (``1 + 6 = 7 , 7 * 4 = 28`` at tries 2 and 3)."""
    written = [t["expression"] for t in tries]
    return len(set(written)) < len(written)


def stop_numbers(records) -> dict:
    """The stops of the searches among ``records`` (``searched`` true and a ``stop_kind``): a count per
    kind (``stops_<kind>``), each false-``ok`` kind's share of the false ``ok``s
    (``false_ok_<kind>``; NaN without one), the share of true ``ok``s whose answer differs
    (``true_ok_answer_differs``) and the share of searches that repeat a try.

    >>> recs = [{"searched": True, "stop_kind": k} for k in ("true", "comparison", "comparison", "arithmetic", "answer")]
    >>> s = stop_numbers(recs + [{"searched": False, "stop_kind": "other"}])
    >>> s["stops_comparison"], s["false_ok_comparison"], s["false_ok_other"], s["true_ok_answer_differs"]
    (2, 0.6666666666666666, 0.0, 0.5)
    """
    searches = [r for r in records if r.get("searched")]
    counts = {kind: sum(r.get("stop_kind") == kind for r in searches) for kind in STOP_KINDS}
    false_oks = sum(counts[k] for k in FALSE_OK_KINDS)
    true_oks = counts["true"] + counts["answer"]
    out = {f"stops_{kind}": n for kind, n in counts.items()}
    out.update({f"false_ok_{kind}": counts[kind] / false_oks if false_oks else float("nan") for kind in FALSE_OK_KINDS})
    out["true_ok_answer_differs"] = counts["answer"] / true_oks if true_oks else float("nan")
    out["searches_repeating_a_try"] = (sum(bool(r.get("repeats_a_try")) for r in searches) / len(searches)
                                       if searches else float("nan"))
    return out


def stops_line(summary: dict) -> str:
    """The stops of a summary in words, for one-line reports (the base audit).

    >>> print(stops_line({"stops_true": 20, "stops_answer": 4, "stops_comparison": 22, "stops_arithmetic": 4,
    ...                   "stops_other": 3, "searches_repeating_a_try": 0.58}))
    false oks: 22 ok for unequal numbers, 4 arithmetic, 3 other; true oks answered with another expression: 4 of 24; searches repeating a try 0.580
    """
    true_oks = summary.get("stops_true", 0) + summary.get("stops_answer", 0)
    repeats = summary.get("searches_repeating_a_try", float("nan"))
    return (f"false oks: {summary.get('stops_comparison', 0)} ok for unequal numbers, "
            f"{summary.get('stops_arithmetic', 0)} arithmetic, {summary.get('stops_other', 0)} other; "
            f"true oks answered with another expression: {summary.get('stops_answer', 0)} of {true_oks}; "
            f"searches repeating a try {'-' if repeats != repeats else f'{repeats:.3f}'}")
