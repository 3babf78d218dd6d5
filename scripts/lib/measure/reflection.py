"""Measurements, not rewards: does a completion check itself, are its checks true, does it pay?

R1-Zero's "aha" is the model starting, unprompted, to re-examine its own work ("wait, …"). These
functions measure that; they are logged, never rewarded (rewarding the words would teach them).

>>> has_self_check("3 + 4 = 7 vs 12 wait ; 3 * 4 = 12 vs 12 ok")
True
>>> has_self_check("the waiter brought 3 plates")       # whole words only
False

Which words count as a self-check is the recipe setting ``reflection_phrases`` (``None``: the
default list below). The default follows DeepSeek-R1's paper, whose examples of reflection start
with "wait"; oat-zero ("There May Not be Aha Moment in R1-Zero-like Training", Liu et al. 2025)
leaves "wait" out of its list as often spurious (it also starts ordinary sentences). A recipe whose
model writes "wait" for something else sets its own list: ``recipes/cpu_countdown_tiny.yaml`` uses
``recheck`` (the tiny base writes ``wait`` as the verdict of a failed check, also when it then gives up).
Keywords are all there is for free text (GSM8K, MATH); for Countdown, where every try can be
checked by code, the tries themselves are measured too (``analyze_countdown_completion``).

Two names, two measures: ``self_check`` is keyword-based (a ``reflection_phrases`` word in the
text: what the tracker, ``make eval`` and the before/after table split by); ``searched`` is
tries-based, Countdown only (a failed check followed by another try: what the base audit splits by,
and what the search rows ``final_ok_true`` and ``searches_without_hit`` count). A completion can
search without a keyword and use a keyword without searching.

For Countdown, every try and check is a claim code can verify; the trace grammar (its words and
its reader, ``parse_tries``) lives in ``scripts/lib/measure/trace_grammar.py``, shared with the corpus
writer of the tiny base. ``analyze_countdown_completion`` measures one completion with it.
"""

from __future__ import annotations

import re

from rewards.text import table_cell
from scripts.lib.measure.stops import repeats_a_try, stop_kind, stop_numbers
from scripts.lib.measure.trace_grammar import CONFIRMED, FAILED, claims_of, parse_tries

DEFAULT_REFLECTION_PHRASES = (
    "wait", "let me check", "let's check", "let me verify", "verify", "recheck", "re-check",
    "re-evaluate", "reevaluate", "double-check", "double check", "let me redo",
)

def _phrase_pattern(phrases) -> re.Pattern:
    alternatives = "|".join(re.escape(p.lower()) for p in phrases)
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")


_DEFAULT_PATTERN = _phrase_pattern(DEFAULT_REFLECTION_PHRASES)


def has_self_check(text: str, phrases=None) -> bool:
    pattern = _DEFAULT_PATTERN if phrases is None else _phrase_pattern(phrases)
    return pattern.search(text.lower()) is not None


# --------------------------------------------------------------------------- does self-checking pay?


def analyze_countdown_completion(text, target, nums=None, correct=None, formatted=None) -> dict:
    """What one Countdown completion did with its tries; ``correct`` comes from ``countdown_reward``.

    ``searched``: a failed check followed by another try (going back; tries-based, unlike the keyword
    ``self_check`` of ``reflection_records``). ``hit_in_think``: a true
    solution confirmed by a true ``ok`` inside the reasoning. ``wrong_to_right``: the first try is
    not a solution, the final answer is right; ``right_to_wrong``: the reverse. ``stop_kind``: why
    the last checked try says ``ok`` (``scripts/lib/measure/stops.py``; None when it does not);
    ``repeats_a_try``: the same try written twice.

    >>> r = analyze_countdown_completion("<think> 3 + 3 = 6 , 6 * 2 = 12 vs 18 wait recheck ; "
    ...     "2 * 3 = 6 , 6 * 3 = 18 vs 18 ok </think> <answer> ( 2 * 3 ) * 3 </answer>", 18, [3, 2, 3], correct=1.0)
    >>> r["tries"], r["first_try_hit"], r["searched"], r["hit_in_think"], r["wrong_to_right"], r["right_to_wrong"]
    (2, False, True, True, True, False)
    >>> r["failed_checks"], r["went_back_after_failed"], r["claims"], r["true_claims"]
    (1, 1, 6, 6)
    >>> analyze_countdown_completion("<think> guess </think> <answer> 1 </answer>", 18, correct=0.0)["tries"]
    0
    """
    tries = parse_tries(text, target, nums)
    failed = [i for i, t in enumerate(tries) if t["verdict"] == FAILED]
    back = sum(1 for i in failed if i + 1 < len(tries))
    first_hit = bool(tries) and tries[0]["hit"]
    ok = None if correct is None else bool(correct)
    checked = [t for t in tries if t["verdict"] is not None]
    stops_on_ok = bool(checked) and checked[-1]["verdict"] == CONFIRMED
    true_claims, claims = claims_of(tries) if _is_int(target) else (0, 0)
    return {
        "tries": len(tries),
        "checked_tries": sum(t["verdict"] is not None for t in tries),
        "arithmetic_errors": sum(not t["arithmetic_true"] for t in tries),
        "first_try_hit": first_hit,
        "failed_checks": len(failed),
        "went_back_after_failed": back,
        "searched": back > 0,
        "hit_in_think": any(t["hit"] and t["verdict"] == CONFIRMED and t["check_true"] for t in tries),
        "correct": ok,
        "format": None if formatted is None else bool(formatted),
        "wrong_to_right": bool(tries) and not first_hit and ok is True,
        "right_to_wrong": first_hit and ok is False,
        "true_claims": true_claims,
        "claims": claims,
        "stops_on_ok": stops_on_ok,
        "final_ok_true": stops_on_ok and checked[-1]["hit"] and bool(checked[-1]["check_true"]),
        "any_hit": any(t["hit"] for t in tries),
        "stop_kind": stop_kind(text, tries, target) if stops_on_ok else None,
        "repeats_a_try": repeats_a_try(tries),
    }


def _is_int(value) -> bool:
    try:
        int(value)
        return not isinstance(value, bool)
    except (TypeError, ValueError, OverflowError):
        return False


def _rate(count, n):
    return count / n if n else float("nan")


# How the summary names the completions it splits by (``summarize_reflection``'s ``split``):
# (record key, share key, count / "accuracy_<x>" word).
SPLITS = {"self_check": ("self_check_share", "self_checking"), "searched": ("searched_share", "searching")}


def summarize_reflection(records, split: str = "self_check") -> dict:
    """Counts and rates over completions: does self-checking (or searching) pay?

    ``records``: dicts with ``correct`` (bool or None: not checkable) and the ``split`` key (``self_check``,
    keyword-based, or ``searched``, tries-based); optional ``format`` and the Countdown keys of
    ``analyze_countdown_completion``. The keys name the split: ``self_check_share``,
    ``accuracy_self_checking``, ... or ``searched_share``, ``accuracy_searching``, ... (``SPLITS``);
    ``split`` says which. Rates whose group is empty are NaN. ``accuracy_ratio`` is split / rest
    accuracy. ``final_ok_true``: of the searches (``searched``, whatever the split) whose last check says
    ``ok``, the share where it is a true solution; ``searches_without_hit``: the share of searches with
    no true solution at all; ``stops_<kind>``, ``false_ok_<kind>``, ``true_ok_answer_differs`` and
    ``searches_repeating_a_try``: why the false ones are false (``scripts/lib/measure/stops.stop_numbers``).

    >>> recs = [{"correct": True, "self_check": True}, {"correct": False, "self_check": True},
    ...         {"correct": False, "self_check": False}, {"correct": True, "self_check": False},
    ...         {"correct": False, "self_check": False}, {"correct": False, "self_check": False}]
    >>> s = summarize_reflection(recs)
    >>> s["n"], s["self_check_share"], s["accuracy_self_checking"], s["accuracy_rest"], s["accuracy_ratio"]
    (6, 0.3333333333333333, 0.5, 0.25, 2.0)
    >>> summarize_reflection([{**r, "searched": r["self_check"]} for r in recs], split="searched")["accuracy_searching"]
    0.5
    """
    share_key, word = SPLITS[split]
    records = [r for r in records if isinstance(r, dict)]
    n = len(records)
    self_checks = [bool(r.get(split, False)) for r in records]
    correct = [r.get("correct") for r in records]

    def acc(mask):
        scored = [bool(c) for c, m in zip(correct, mask) if m and c is not None]
        return _rate(sum(scored), len(scored)), len(scored)

    acc_all, n_scored = acc([True] * n)
    acc_ref, n_ref = acc(self_checks)
    acc_rest, n_rest = acc([not m for m in self_checks])
    out = {
        "n": n, "split": split, word: sum(self_checks), share_key: _rate(sum(self_checks), n),
        "accuracy": acc_all, f"accuracy_{word}": acc_ref, "accuracy_rest": acc_rest,
        "accuracy_ratio": acc_ref / acc_rest if acc_rest and acc_rest == acc_rest and acc_ref == acc_ref
        else float("nan"),
        f"scored_{word}": n_ref, "scored_rest": n_rest,
    }
    formats = [r.get("format") for r in records]
    if any(f is not None for f in formats):
        out["format"] = _rate(sum(bool(f) for f in formats), sum(f is not None for f in formats))
        out["accuracy_well_formatted"] = acc([bool(f) for f in formats])[0]
    if records and all("tries" in r for r in records):
        hit = [bool(r.get("hit_in_think")) for r in records]
        ref_hits = sum(h for h, m in zip(hit, self_checks) if m)
        rest_hits = sum(h for h, m in zip(hit, self_checks) if not m)
        failed = sum(r.get("failed_checks", 0) for r in records)
        claims = sum(r.get("claims", 0) for r in records)
        tries = sum(r["tries"] for r in records)
        out.update({
            "tries_mean": _rate(tries, n),
            "arithmetic_error_rate": _rate(sum(r.get("arithmetic_errors", 0) for r in records), tries),
            "first_try_accuracy": _rate(sum(bool(r.get("first_try_hit")) for r in records), n),
            "wrong_to_right": _rate(sum(bool(r.get("wrong_to_right")) for r in records), n),
            "right_to_wrong": _rate(sum(bool(r.get("right_to_wrong")) for r in records), n),
            "failed_checks": failed,
            "went_back_after_failed": sum(r.get("went_back_after_failed", 0) for r in records),
            "p_go_back_given_failed": _rate(sum(r.get("went_back_after_failed", 0) for r in records), failed),
            "honest_checks": _rate(sum(r.get("true_claims", 0) for r in records), claims),
            "hit_in_think": _rate(sum(hit), n),
            f"hit_in_think_{word}": _rate(ref_hits, sum(self_checks)),
            "hit_in_think_rest": _rate(rest_hits, n - sum(self_checks)),
            f"hits_{word}": ref_hits, "hits_rest": rest_hits,
        })
        # The stop verdict of the searches (completions that went back after a failed check, whatever
        # the split): is the final `ok` true, and how many searches end without any true solution?
        searches = [r for r in records if r.get("searched")]
        stop_ok = [r for r in searches if r.get("stops_on_ok")]
        out.update({
            "searches_stopping_on_ok": len(stop_ok),
            "final_ok_true": _rate(sum(bool(r.get("final_ok_true")) for r in stop_ok), len(stop_ok)),
            "searches_without_hit": _rate(sum(not r.get("any_hit") for r in searches), len(searches)),
            **stop_numbers(records),   # why the false ones are false
        })
        r_, o_ = out[f"hit_in_think_{word}"], out["hit_in_think_rest"]
        out["hit_ratio"] = r_ / o_ if o_ and o_ == o_ and r_ == r_ else (float("inf") if r_ and r_ == r_ else float("nan"))
    return out


def _z_two_proportions(k1: int, n1: int, k2: int, n2: int) -> float:
    """One-sided z statistic of ``k1/n1 > k2/n2`` (pooled); 0.0 when undefined."""
    if not n1 or not n2:
        return 0.0
    p = (k1 + k2) / (n1 + n2)
    se = (p * (1 - p) * (1 / n1 + 1 / n2)) ** 0.5
    return (k1 / n1 - k2 / n2) / se if se else 0.0


def reflection_verdict(summary: dict, min_share: float = 0.01, min_self_checking: int = 10,
                       z_pays: float = 1.96) -> tuple[str, dict]:
    """("absent" | "present but does not pay" | "present and pays", the numbers behind it).

    Absent: fewer than ``min_share`` of the completions reflect, or fewer than ``min_self_checking``
    of them. Pays: the self-checking completions succeed more often than the rest, with a one-sided
    two-proportion z of at least ``z_pays`` (~2.5 % false alarms). Success is, for Countdown
    summaries, finding a true solution inside the reasoning (an answer lost to a broken format
    still shows the search found it); otherwise the final accuracy.

    >>> s = {"n": 400, "self_checking": 40, "self_check_share": 0.1, "hits_self_checking": 12, "hits_rest": 18,
    ...      "hit_in_think_self_checking": 0.3, "hit_in_think_rest": 0.05, "tries_mean": 2.0}
    >>> reflection_verdict(s)[0]
    'present and pays'
    >>> reflection_verdict({**s, "hits_self_checking": 2, "hit_in_think_self_checking": 0.05})[0]
    'present but does not pay'
    >>> reflection_verdict({**s, "self_checking": 3, "self_check_share": 0.0075})[0]
    'absent'
    """
    share_key, word = SPLITS[summary.get("split", "self_check")]
    n = int(summary.get("n", 0) or 0)
    k = int(summary.get(word, 0) or 0)
    share = summary.get(share_key, float("nan"))
    numbers = {"n": n, "split": summary.get("split", "self_check"), "count": k, "share": share}
    if not n or k < min_self_checking or not share >= min_share:
        return "absent", numbers
    if f"hits_{word}" in summary:
        measure = "hit_in_think"
        k1, n1 = int(summary[f"hits_{word}"]), k
        k2, n2 = int(summary["hits_rest"]), n - k
    else:
        measure = "accuracy"
        n1, n2 = int(summary.get(f"scored_{word}", 0)), int(summary.get("scored_rest", 0))
        a1, a2 = summary.get(f"accuracy_{word}", float("nan")), summary.get("accuracy_rest", float("nan"))
        k1 = round(a1 * n1) if n1 else 0
        k2 = round(a2 * n2) if n2 else 0
    z = _z_two_proportions(k1, n1, k2, n2)
    numbers.update({"measure": measure, "split_rate": _rate(k1, n1), "rest_rate": _rate(k2, n2), "z": z})
    return ("present and pays" if z >= z_pays else "present but does not pay"), numbers


# --------------------------------------------------------------------------- one batch, any task


def reflection_records(completions, correct, formats=None, task: str = "", targets=None, nums=None,
                       phrases=None) -> list[dict]:
    """One record per completion for ``summarize_reflection``: ``self_check`` is the keyword self-check
    (``phrases``: the recipe's ``reflection_phrases``); for ``task == "countdown"`` with targets, the
    tries-based numbers of ``analyze_countdown_completion`` too (``searched`` among them). ``correct``: the accuracy reward per
    completion (None or NaN: cannot be checked).

    >>> recs = reflection_records(["<think> 3 * 6 = 18 vs 18 ok </think>", "<think> let me check 2 </think>"],
    ...                           [1.0, 0.0], task="gsm8k", phrases=["let me check"])
    >>> [(r["self_check"], r["correct"]) for r in recs], "tries" in recs[0]
    ([(False, True), (True, False)], False)
    """
    n = len(completions)
    formats = list(formats) if formats is not None else [None] * n
    records = []
    for i, text in enumerate(completions):
        c = correct[i]
        c = None if c is None or c != c else c
        self_check = has_self_check(text if isinstance(text, str) else "", phrases)
        target = targets[i] if targets is not None else None
        if task == "countdown" and _is_int(target):
            record = analyze_countdown_completion(text, target, nums[i] if nums is not None else None, c, formats[i])
        else:
            record = {"correct": None if c is None else bool(c), "format": None if formats[i] is None else bool(formats[i])}
        record["self_check"] = self_check
        records.append(record)
    return records


def revision_numbers(completions, correct, formats=None, task: str = "", targets=None, nums=None,
                     phrases=None) -> dict:
    """``summarize_reflection`` of ``reflection_records``: the revision numbers every command reports.

    Keys, all tasks: ``self_check_share`` (self-check share), ``accuracy``, ``accuracy_self_checking``,
    ``accuracy_rest``, ``accuracy_ratio``; Countdown adds ``tries_mean``, ``first_try_accuracy``,
    ``wrong_to_right``, ``right_to_wrong``, ``hit_in_think``, ``honest_checks``, ...

    >>> texts = ["<think> 3 + 3 = 6 vs 18 wait recheck ; 3 * 6 = 18 vs 18 ok </think> <answer> 3 * 6 </answer>",
    ...          "<think> 3 * 6 = 18 vs 18 ok </think> <answer> 3 * 6 </answer>",
    ...          "<think> 3 + 6 = 9 </think> <answer> 3 + 6 </answer>",
    ...          "<think> 3 * 6 = 18 vs 18 ok </think> <answer> 3 + 6 </answer>"]
    >>> s = revision_numbers(texts, [1.0, 1.0, 0.0, 0.0], task="countdown", targets=[18] * 4,
    ...                      nums=[[3, 6]] * 4, phrases=["recheck"])
    >>> s["self_check_share"], s["accuracy_self_checking"], s["accuracy_rest"], s["tries_mean"]
    (0.25, 1.0, 0.3333333333333333, 1.25)
    >>> s["first_try_accuracy"], s["wrong_to_right"], s["right_to_wrong"], s["hit_in_think"]
    (0.5, 0.25, 0.25, 0.75)
    """
    return summarize_reflection(reflection_records(completions, correct, formats, task, targets, nums, phrases))


def verdict_line(summary: dict, what: str = "") -> str:
    """The one-line base-model audit: the verdict of ``reflection_verdict`` and the numbers behind it.

    >>> s = {"n": 400, "self_checking": 40, "self_check_share": 0.1, "accuracy": 0.2, "accuracy_self_checking": 0.5,
    ...      "accuracy_rest": 0.1667, "scored_self_checking": 40, "scored_rest": 360}
    >>> print(verdict_line(s, "base"))
    reflection audit (base): reflection present and pays (RL has something to amplify): 40 of 400 completions self-check (share 0.100); accuracy 0.500 self-checking vs 0.167 the rest (z 5.00); keyword-based (free text)
    """
    verdict, numbers = reflection_verdict(summary)
    head = f"reflection audit{f' ({what})' if what else ''}: reflection {verdict}"
    if verdict == "present and pays":
        head += " (RL has something to amplify)"
    does, doing = (("self-check", "self-checking") if numbers["split"] == "self_check"
                   else ("search (go back after a failed check)", "searching"))
    parts = [f"{numbers['count']} of {numbers['n']} completions {does} (share {table_cell(numbers['share'])})"]
    if verdict == "absent" and numbers["count"] and numbers["share"] >= 0.01:
        parts[0] += " - too few to judge; sample more"
    if "measure" in numbers:
        label = "true solution inside <think>" if numbers["measure"] == "hit_in_think" else "accuracy"
        parts.append(f"{label} {table_cell(numbers['split_rate'])} {doing} vs {table_cell(numbers['rest_rate'])} "
                     f"the rest (z {numbers['z']:.2f})")
    if "tries_mean" in summary:
        parts.append(f"tries {table_cell(summary['tries_mean'], 2)}, first-try accuracy {table_cell(summary['first_try_accuracy'])}, "
                     f"wrong->right {table_cell(summary['wrong_to_right'])}, right->wrong {table_cell(summary['right_to_wrong'])}, "
                     f"accuracy {table_cell(summary['accuracy'])}")
    else:
        parts.append("keyword-based (free text)")
    return head + ": " + "; ".join(parts)

