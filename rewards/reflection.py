"""Diagnostics, not rewards: does a completion re-check itself, and are its checks true?

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

For the Countdown traces the tiny model writes, every check makes a claim that can be verified:
``x o y = m`` (arithmetic), ``v vs t wait`` (v missed the target t) and ``v vs t ok`` (v is the
target). ``countdown_check_claims`` returns (true claims, all claims):

>>> countdown_check_claims("<think> 3 + 3 = 6 , 6 * 2 = 12 vs 18 wait ; 2 * 3 = 6 , 6 * 3 = 18 vs 18 ok </think>", 18)
(6, 6)
>>> countdown_check_claims("<think> 3 + 3 = 6 , 6 * 2 = 13 vs 18 ok </think>", 18)   # 6*2 is not 13; 13 is not 18
(1, 3)
"""

from __future__ import annotations

import re
from fractions import Fraction

DEFAULT_REFLECTION_PHRASES = (
    "wait", "let me check", "let's check", "let me verify", "verify", "recheck", "re-check",
    "re-evaluate", "reevaluate", "double-check", "double check", "let me redo",
)

_STEP = re.compile(r"(-?\d{1,6})\s*([+\-*/])\s*(-?\d{1,6})\s*=\s*(-?\d{1,9})")
_CHECK = re.compile(r"(-?\d{1,9})\s+vs\s+(-?\d{1,9})\s+(wait|ok)\b")


def _phrase_pattern(phrases) -> re.Pattern:
    alternatives = "|".join(re.escape(p.lower()) for p in phrases)
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")


_DEFAULT_PATTERN = _phrase_pattern(DEFAULT_REFLECTION_PHRASES)


def has_self_check(text: str, phrases=None) -> bool:
    pattern = _DEFAULT_PATTERN if phrases is None else _phrase_pattern(phrases)
    return pattern.search(text.lower()) is not None


def _true_step(a: str, op: str, b: str, result: str) -> bool:
    x, y, r = Fraction(int(a)), Fraction(int(b)), Fraction(int(result))
    if op == "/":
        return y != 0 and x / y == r
    return {"+": x + y, "-": x - y, "*": x * y}[op] == r


def countdown_check_claims(text: str, target) -> tuple[int, int]:
    """(number of true claims, number of claims) in a Countdown trace."""
    text = text[:20_000]
    true = total = 0
    for a, op, b, result in _STEP.findall(text):
        total += 1
        true += _true_step(a, op, b, result)
    for value, claimed_target, verdict in _CHECK.findall(text):
        total += 1
        hit = int(value) == int(target)
        true += int(claimed_target) == int(target) and (hit if verdict == "ok" else not hit)
    return true, total


# --------------------------------------------------------------------------- does reflection pay?
# A Countdown trace is a list of tries. Each try is one or more steps ``a o b = r`` joined by ``,``
# (``3 + 3 = 6 , 6 * 2 = 12``), optionally checked (``12 vs 18 wait`` or ``18 vs 18 ok``). Going
# back is a failed check followed by another try. Everything here is text analysis: no model, no
# torch, no ``eval``; any string (or None) is read without raising.

_MAX_TRACE_CHARS = 20_000
_TOKEN = re.compile(
    r"(?P<step>(?P<a>-?\d{1,6})\s*(?P<op>[+\-*/])\s*(?P<b>-?\d{1,6})\s*=\s*(?P<r>-?\d{1,9}))"
    r"|(?P<check>\bvs\s+(?P<t>-?\d{1,9})\s+(?P<verdict>wait|ok)\b)"
    r"|(?P<comma>,)"
)


def _think_part(text: str) -> str:
    """The reasoning: text up to ``</think>``, else up to ``<answer>``, else all of it."""
    for tag in ("</think>", "<answer>"):
        end = text.find(tag)
        if end >= 0:
            return text[:end]
    return text


def parse_countdown_tries(text, target=None, nums=None) -> list[dict]:
    """The tries in the ``<think>`` part of a Countdown trace, in order.

    Each try: ``expression`` (its steps as written), ``value`` (the last step's result),
    ``verdict`` (``"ok"``, ``"wait"`` or None when unchecked), ``arithmetic_true`` (every step is
    right and each step continues from the previous result), ``check_true`` (the verdict and the
    target it names are right; None when unchecked or no target is given), ``hit`` (a true
    solution: arithmetic true, value equals the target, and, when ``nums`` are given, the numbers
    used are exactly those).

    >>> tries = parse_countdown_tries("<think> 3 + 3 = 6 , 6 * 2 = 12 vs 18 wait recheck ; "
    ...                               "2 * 3 = 6 , 6 * 3 = 18 vs 18 ok </think>", 18, [3, 2, 3])
    >>> [(t["value"], t["verdict"], t["arithmetic_true"], t["check_true"], t["hit"]) for t in tries]
    [(12, 'wait', True, True, False), (18, 'ok', True, True, True)]
    >>> tries[1]["expression"]
    '2 * 3 = 6 , 6 * 3 = 18'
    >>> t = parse_countdown_tries("9 * 2 = 18 vs 18 ok", 18, [3, 2, 3])[0]   # 9 is not given
    >>> t["arithmetic_true"], t["check_true"], t["hit"]
    (True, True, False)
    >>> parse_countdown_tries("5 * 3 = 16 vs 18 ok", 18)[0]["check_true"]     # 16 is not 18
    False
    >>> parse_countdown_tries(None), parse_countdown_tries("no numbers here")
    ([], [])
    """
    if not isinstance(text, str):
        return []
    think = _think_part(text[:_MAX_TRACE_CHARS])
    tries: list[dict] = []
    current: list[tuple] = []   # steps of the try being read: (a, op, b, r)
    start = end = 0
    joined = False              # a "," after the last step: the next step continues this try

    def close(verdict=None, claimed=None):
        nonlocal current
        if current:
            tries.append(_make_try(think[start:end], current, verdict, claimed, target, nums))
        current = []

    for m in _TOKEN.finditer(think):
        if m.group("step"):
            if current and not joined:
                close()
            if not current:
                start = m.start()
            current.append((int(m.group("a")), m.group("op"), int(m.group("b")), int(m.group("r"))))
            end, joined = m.end(), False
        elif m.group("check"):
            if current and not joined and not think[end:m.start()].strip():  # `= v vs t ok`
                close(m.group("verdict"), int(m.group("t")))
            joined = False
        else:
            joined = bool(current)
    close()
    return tries


def _make_try(expression, steps, verdict, claimed, target, nums) -> dict:
    arithmetic = all(_true_step(str(a), op, str(b), str(r)) for a, op, b, r in steps)
    arithmetic = arithmetic and all(steps[i][0] == steps[i - 1][3] for i in range(1, len(steps)))
    value = steps[-1][3]
    check_true = None
    if verdict is not None and target is not None:
        try:
            t = int(target)
            check_true = claimed == t and ((value == t) == (verdict == "ok"))
        except (TypeError, ValueError, OverflowError):
            check_true = None
    used = [steps[0][0], steps[0][2]] + [s[2] for s in steps[1:]]
    try:
        uses_nums = nums is None or sorted(used) == sorted(int(n) for n in nums)
        hit = target is not None and arithmetic and value == int(target) and uses_nums
    except (TypeError, ValueError, OverflowError):
        hit = False
    return {"expression": " ".join(expression.split()), "value": value, "verdict": verdict,
            "arithmetic_true": arithmetic, "check_true": check_true, "hit": bool(hit)}


def analyze_countdown_completion(text, target, nums=None, correct=None, formatted=None) -> dict:
    """What one Countdown completion did with its tries; ``correct`` comes from ``countdown_reward``.

    ``went_back``: a failed check followed by another try (the reflection). ``hit_in_think``: a true
    solution confirmed by a true ``ok`` inside the reasoning. ``wrong_to_right``: the first try is
    not a solution, the final answer is right; ``right_to_wrong``: the reverse.

    >>> r = analyze_countdown_completion("<think> 3 + 3 = 6 , 6 * 2 = 12 vs 18 wait recheck ; "
    ...     "2 * 3 = 6 , 6 * 3 = 18 vs 18 ok </think> <answer> ( 2 * 3 ) * 3 </answer>", 18, [3, 2, 3], correct=1.0)
    >>> r["tries"], r["first_try_hit"], r["went_back"], r["hit_in_think"], r["wrong_to_right"], r["right_to_wrong"]
    (2, False, True, True, True, False)
    >>> r["failed_checks"], r["went_back_after_failed"], r["claims"], r["true_claims"]
    (1, 1, 6, 6)
    >>> analyze_countdown_completion("<think> guess </think> <answer> 1 </answer>", 18, correct=0.0)["tries"]
    0
    """
    tries = parse_countdown_tries(text, target, nums)
    failed = [i for i, t in enumerate(tries) if t["verdict"] == "wait"]
    back = sum(1 for i in failed if i + 1 < len(tries))
    first_hit = bool(tries) and tries[0]["hit"]
    ok = None if correct is None else bool(correct)
    true_claims, claims = countdown_check_claims(text, target) if isinstance(text, str) and _is_int(target) else (0, 0)
    return {
        "tries": len(tries),
        "checked_tries": sum(t["verdict"] is not None for t in tries),
        "arithmetic_errors": sum(not t["arithmetic_true"] for t in tries),
        "first_try_hit": first_hit,
        "failed_checks": len(failed),
        "went_back_after_failed": back,
        "went_back": back > 0,
        "hit_in_think": any(t["hit"] and t["verdict"] == "ok" and t["check_true"] for t in tries),
        "correct": ok,
        "format": None if formatted is None else bool(formatted),
        "wrong_to_right": bool(tries) and not first_hit and ok is True,
        "right_to_wrong": first_hit and ok is False,
        "true_claims": true_claims,
        "claims": claims,
    }


def _is_int(value) -> bool:
    try:
        int(value)
        return not isinstance(value, bool)
    except (TypeError, ValueError, OverflowError):
        return False


def _rate(count, n):
    return count / n if n else float("nan")


def summarize_reflection(records) -> dict:
    """Counts and rates over completions: does reflecting pay?

    ``records``: dicts with ``correct`` (bool or None: not checkable) and ``reflects`` (or, from
    ``analyze_countdown_completion``, ``went_back``); optional ``format`` and the Countdown keys.
    Rates whose group is empty are NaN. ``accuracy_ratio`` is reflecting / rest accuracy.

    >>> recs = [{"correct": True, "reflects": True}, {"correct": False, "reflects": True},
    ...         {"correct": False, "reflects": False}, {"correct": True, "reflects": False},
    ...         {"correct": False, "reflects": False}, {"correct": False, "reflects": False}]
    >>> s = summarize_reflection(recs)
    >>> s["n"], s["reflect_share"], s["accuracy_reflecting"], s["accuracy_rest"], s["accuracy_ratio"]
    (6, 0.3333333333333333, 0.5, 0.25, 2.0)
    """
    records = [r for r in records if isinstance(r, dict)]
    n = len(records)
    reflects = [bool(r.get("reflects", r.get("went_back", False))) for r in records]
    correct = [r.get("correct") for r in records]

    def acc(mask):
        scored = [bool(c) for c, m in zip(correct, mask) if m and c is not None]
        return _rate(sum(scored), len(scored)), len(scored)

    acc_all, n_scored = acc([True] * n)
    acc_ref, n_ref = acc(reflects)
    acc_rest, n_rest = acc([not m for m in reflects])
    out = {
        "n": n, "reflecting": sum(reflects), "reflect_share": _rate(sum(reflects), n),
        "accuracy": acc_all, "accuracy_reflecting": acc_ref, "accuracy_rest": acc_rest,
        "accuracy_ratio": acc_ref / acc_rest if acc_rest and acc_rest == acc_rest and acc_ref == acc_ref
        else float("nan"),
        "scored_reflecting": n_ref, "scored_rest": n_rest,
    }
    formats = [r.get("format") for r in records]
    if any(f is not None for f in formats):
        out["format"] = _rate(sum(bool(f) for f in formats), sum(f is not None for f in formats))
        out["accuracy_well_formatted"] = acc([bool(f) for f in formats])[0]
    if records and all("tries" in r for r in records):
        hit = [bool(r.get("hit_in_think")) for r in records]
        ref_hits = sum(h for h, m in zip(hit, reflects) if m)
        rest_hits = sum(h for h, m in zip(hit, reflects) if not m)
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
            "hit_in_think_reflecting": _rate(ref_hits, sum(reflects)),
            "hit_in_think_rest": _rate(rest_hits, n - sum(reflects)),
            "hits_reflecting": ref_hits, "hits_rest": rest_hits,
        })
        r_, o_ = out["hit_in_think_reflecting"], out["hit_in_think_rest"]
        out["hit_ratio"] = r_ / o_ if o_ and o_ == o_ and r_ == r_ else (float("inf") if r_ and r_ == r_ else float("nan"))
    return out


def _z_two_proportions(k1: int, n1: int, k2: int, n2: int) -> float:
    """One-sided z statistic of ``k1/n1 > k2/n2`` (pooled); 0.0 when undefined."""
    if not n1 or not n2:
        return 0.0
    p = (k1 + k2) / (n1 + n2)
    se = (p * (1 - p) * (1 / n1 + 1 / n2)) ** 0.5
    return (k1 / n1 - k2 / n2) / se if se else 0.0


def reflection_verdict(summary: dict, min_share: float = 0.01, min_reflecting: int = 10,
                       z_pays: float = 1.96) -> tuple[str, dict]:
    """("absent" | "present but does not pay" | "present and pays", the numbers behind it).

    Absent: fewer than ``min_share`` of the completions reflect, or fewer than ``min_reflecting``
    of them. Pays: the reflecting completions succeed more often than the rest, with a one-sided
    two-proportion z of at least ``z_pays`` (~2.5 % false alarms). Success is, for Countdown
    summaries, finding a true solution inside the reasoning (an answer lost to a broken format
    still shows the search found it); otherwise the final accuracy.

    >>> s = {"n": 400, "reflecting": 40, "reflect_share": 0.1, "hits_reflecting": 12, "hits_rest": 18,
    ...      "hit_in_think_reflecting": 0.3, "hit_in_think_rest": 0.05, "tries_mean": 2.0}
    >>> reflection_verdict(s)[0]
    'present and pays'
    >>> reflection_verdict({**s, "hits_reflecting": 2, "hit_in_think_reflecting": 0.05})[0]
    'present but does not pay'
    >>> reflection_verdict({**s, "reflecting": 3, "reflect_share": 0.0075})[0]
    'absent'
    """
    n = int(summary.get("n", 0) or 0)
    k = int(summary.get("reflecting", 0) or 0)
    share = summary.get("reflect_share", float("nan"))
    numbers = {"n": n, "reflecting": k, "reflect_share": share}
    if not n or k < min_reflecting or not share >= min_share:
        return "absent", numbers
    if "hits_reflecting" in summary:
        measure = "hit_in_think"
        k1, n1 = int(summary["hits_reflecting"]), k
        k2, n2 = int(summary["hits_rest"]), n - k
    else:
        measure = "accuracy"
        n1, n2 = int(summary.get("scored_reflecting", 0)), int(summary.get("scored_rest", 0))
        a1, a2 = summary.get("accuracy_reflecting", float("nan")), summary.get("accuracy_rest", float("nan"))
        k1 = round(a1 * n1) if n1 else 0
        k2 = round(a2 * n2) if n2 else 0
    z = _z_two_proportions(k1, n1, k2, n2)
    numbers.update({"measure": measure, "reflecting_rate": _rate(k1, n1), "rest_rate": _rate(k2, n2), "z": z})
    return ("present and pays" if z >= z_pays else "present but does not pay"), numbers


# --------------------------------------------------------------------------- one batch, any task


def reflection_records(completions, correct, formats=None, task: str = "", targets=None, nums=None,
                       phrases=None) -> list[dict]:
    """One record per completion for ``summarize_reflection``: ``reflects`` is the keyword self-check
    (``phrases``: the recipe's ``reflection_phrases``); for ``task == "countdown"`` with targets, the
    tries-based numbers of ``analyze_countdown_completion`` too. ``correct``: the accuracy reward per
    completion (None or NaN: cannot be checked).

    >>> recs = reflection_records(["<think> 3 * 6 = 18 vs 18 ok </think>", "<think> let me check 2 </think>"],
    ...                           [1.0, 0.0], task="gsm8k", phrases=["let me check"])
    >>> [(r["reflects"], r["correct"]) for r in recs], "tries" in recs[0]
    ([(False, True), (True, False)], False)
    """
    n = len(completions)
    formats = list(formats) if formats is not None else [None] * n
    records = []
    for i, text in enumerate(completions):
        c = correct[i]
        c = None if c is None or c != c else c
        reflects = has_self_check(text if isinstance(text, str) else "", phrases)
        target = targets[i] if targets is not None else None
        if task == "countdown" and _is_int(target):
            record = analyze_countdown_completion(text, target, nums[i] if nums is not None else None, c, formats[i])
        else:
            record = {"correct": None if c is None else bool(c), "format": None if formats[i] is None else bool(formats[i])}
        record["reflects"] = reflects
        records.append(record)
    return records


def revision_numbers(completions, correct, formats=None, task: str = "", targets=None, nums=None,
                     phrases=None) -> dict:
    """``summarize_reflection`` of ``reflection_records``: the revision numbers every command reports.

    Keys, all tasks: ``reflect_share`` (self-check share), ``accuracy``, ``accuracy_reflecting``,
    ``accuracy_rest``, ``accuracy_ratio``; Countdown adds ``tries_mean``, ``first_try_accuracy``,
    ``wrong_to_right``, ``right_to_wrong``, ``hit_in_think``, ``honest_checks``, ...

    >>> texts = ["<think> 3 + 3 = 6 vs 18 wait recheck ; 3 * 6 = 18 vs 18 ok </think> <answer> 3 * 6 </answer>",
    ...          "<think> 3 * 6 = 18 vs 18 ok </think> <answer> 3 * 6 </answer>",
    ...          "<think> 3 + 6 = 9 </think> <answer> 3 + 6 </answer>",
    ...          "<think> 3 * 6 = 18 vs 18 ok </think> <answer> 3 + 6 </answer>"]
    >>> s = revision_numbers(texts, [1.0, 1.0, 0.0, 0.0], task="countdown", targets=[18] * 4,
    ...                      nums=[[3, 6]] * 4, phrases=["recheck"])
    >>> s["reflect_share"], s["accuracy_reflecting"], s["accuracy_rest"], s["tries_mean"]
    (0.25, 1.0, 0.3333333333333333, 1.25)
    >>> s["first_try_accuracy"], s["wrong_to_right"], s["right_to_wrong"], s["hit_in_think"]
    (0.5, 0.25, 0.25, 0.75)
    """
    return summarize_reflection(reflection_records(completions, correct, formats, task, targets, nums, phrases))


def verdict_line(summary: dict, what: str = "") -> str:
    """The one-line base-model audit: the verdict of ``reflection_verdict`` and the numbers behind it.

    >>> s = {"n": 400, "reflecting": 40, "reflect_share": 0.1, "accuracy": 0.2, "accuracy_reflecting": 0.5,
    ...      "accuracy_rest": 0.1667, "scored_reflecting": 40, "scored_rest": 360}
    >>> print(verdict_line(s, "base"))
    reflection audit (base): reflection present and pays (RL has something to amplify): 40 of 400 completions self-check (share 0.100); accuracy 0.500 self-checking vs 0.167 the rest (z 5.00); keyword-based (free text)
    """
    verdict, numbers = reflection_verdict(summary)
    head = f"reflection audit{f' ({what})' if what else ''}: reflection {verdict}"
    if verdict == "present and pays":
        head += " (RL has something to amplify)"
    parts = [f"{numbers['reflecting']} of {numbers['n']} completions self-check (share {_fmt(numbers['reflect_share'])})"]
    if verdict == "absent" and numbers["reflecting"] and numbers["reflect_share"] >= 0.01:
        parts[0] += " - too few to judge; sample more"
    if "measure" in numbers:
        label = "true solution inside <think>" if numbers["measure"] == "hit_in_think" else "accuracy"
        parts.append(f"{label} {_fmt(numbers['reflecting_rate'])} self-checking vs {_fmt(numbers['rest_rate'])} "
                     f"the rest (z {numbers['z']:.2f})")
    if "tries_mean" in summary:
        parts.append(f"tries {_fmt(summary['tries_mean'], 2)}, first-try accuracy {_fmt(summary['first_try_accuracy'])}, "
                     f"wrong->right {_fmt(summary['wrong_to_right'])}, right->wrong {_fmt(summary['right_to_wrong'])}, "
                     f"accuracy {_fmt(summary['accuracy'])}")
    else:
        parts.append("keyword-based (free text)")
    return head + ": " + "; ".join(parts)


def _fmt(value, digits: int = 3) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"
