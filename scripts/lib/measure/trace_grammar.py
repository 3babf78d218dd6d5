"""The Countdown trace grammar: the words a tiny-base trace writes, and how a trace is read back.

One home for both sides in code: ``scripts/lib/models/tiny_base/corpus.py`` writes its corpus with these
words and ``scripts/lib/measure/reflection.py`` measures completions with :func:`parse_tries`; renaming a
word here renames it in both (``tests/test_tiny_base.py`` parses the corpus writer's traces back). A
recipe is YAML and names the go-back word itself: the keyword self-check count of
``recipes/cpu_countdown_tiny.yaml`` (``reflection_phrases``) lists ``recheck``, and a test fails until
a recipe that builds a tiny base counts exactly the grammar's go-back.

The reasoning (``<think>`` part) of a trace is a list of tries::

    try     := step ( "," step )* [ "vs" target verdict ]      3 + 3 = 6 , 6 * 2 = 12 vs 18 wait
    step    := a op b "=" r                                    op in + - * /
    verdict := CONFIRMED ("ok": the value is the target, stop) | FAILED ("wait": it is not)
    between two tries: GO_BACK NEXT ("recheck ;"), the going back that R1-Zero's aha is about

A failed check followed by another try is a search (``searched`` in ``reflection.py``; the keyword
``self_check`` is another measure, a ``reflection_phrases`` word such as ``recheck``); a search that misses on every try gives up
(``… vs 18 wait </think>``) and answers the closest. A lazy trace writes one unchecked try or the
word ``guess``. Reading is text analysis only: no model, no ``eval``; any string (or None) is
read without raising.

>>> [(t["value"], t["verdict"], t["check_true"]) for t in parse_tries("3 + 3 = 6 , 6 * 2 = 12 vs 18 wait recheck ; 3 * 6 = 18 vs 18 ok", 18)]
[(12, 'wait', True), (18, 'ok', True)]
"""

from __future__ import annotations

import re
from fractions import Fraction

FAILED, GO_BACK, CONFIRMED = "wait", "recheck", "ok"   # verdict of a missed try, going back, verdict of a hit
VS, JOIN, NEXT, GUESS, EQ = "vs", ",", ";", "guess", "="   # value vs target, step joiner, try separator, bare guess
THINK_END, ANSWER = "</think>", "<answer>"
OPS = "+-*/"

_MAX_TRACE_CHARS = 20_000
_TOKEN = re.compile(
    r"(?P<step>(?P<a>-?\d{1,6})\s*(?P<op>[+\-*/])\s*(?P<b>-?\d{1,6})\s*=\s*(?P<r>-?\d{1,9}))"
    rf"|(?P<check>\b{re.escape(VS)}\s+(?P<t>-?\d{{1,9}})\s+(?P<verdict>{re.escape(FAILED)}|{re.escape(CONFIRMED)})\b)"
    rf"|(?P<join>{re.escape(JOIN)})"
)


def calc(a: int, op: str, b: int):
    """The value of ``a op b`` (``/`` exact, as a Fraction; division by zero: None)."""
    if op == "/":
        return Fraction(a, b) if b else None
    return a + b if op == "+" else a - b if op == "-" else a * b


def think_part(text: str) -> str:
    """The reasoning: text up to ``</think>``, else up to ``<answer>``, else all of it."""
    for tag in (THINK_END, ANSWER):
        end = text.find(tag)
        if end >= 0:
            return text[:end]
    return text


def parse_tries(text, target=None, nums=None) -> list[dict]:
    """The tries in the ``<think>`` part of a Countdown trace, in order.

    Each try: ``expression`` (its steps as written), ``value`` (the last step's result),
    ``verdict`` (``"ok"``, ``"wait"`` or None when unchecked), ``steps`` and ``true_steps`` (how
    many of its steps are right), ``arithmetic_true`` (every step is right and each continues from
    the previous result), ``claimed_target`` (the number after ``vs``), ``check_true`` (the verdict
    and the target it names are right; None when unchecked or no target is given), ``hit`` (a true
    solution: arithmetic true, value equals the target, and, when ``nums`` are given, the numbers
    used are exactly those), ``numbers`` (the numbers the try uses, in the order written).

    >>> tries = parse_tries("<think> 3 + 3 = 6 , 6 * 2 = 12 vs 18 wait recheck ; "
    ...                     "2 * 3 = 6 , 6 * 3 = 18 vs 18 ok </think>", 18, [3, 2, 3])
    >>> [(t["value"], t["verdict"], t["arithmetic_true"], t["check_true"], t["hit"]) for t in tries]
    [(12, 'wait', True, True, False), (18, 'ok', True, True, True)]
    >>> tries[1]["expression"]
    '2 * 3 = 6 , 6 * 3 = 18'
    >>> t = parse_tries("9 * 2 = 18 vs 18 ok", 18, [3, 2, 3])[0]   # 9 is not given
    >>> t["arithmetic_true"], t["check_true"], t["hit"]
    (True, True, False)
    >>> parse_tries("5 * 3 = 16 vs 18 ok", 18)[0]["check_true"]     # 16 is not 18
    False
    >>> parse_tries(None), parse_tries("no numbers here")
    ([], [])
    """
    if not isinstance(text, str):
        return []
    think = think_part(text[:_MAX_TRACE_CHARS])
    tries: list[dict] = []
    current: list[tuple] = []   # steps of the try being read: (a, op, b, r)
    start = end = 0
    joined = False              # a JOIN after the last step: the next step continues this try

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


def _true_step(a: int, op: str, b: int, r: int) -> bool:
    value = calc(a, op, b)
    return value is not None and value == r


def _make_try(expression, steps, verdict, claimed, target, nums) -> dict:
    true_steps = sum(_true_step(*s) for s in steps)
    arithmetic = true_steps == len(steps) and all(steps[i][0] == steps[i - 1][3] for i in range(1, len(steps)))
    value = steps[-1][3]
    check_true = None
    if verdict is not None and target is not None:
        try:
            t = int(target)
            check_true = claimed == t and ((value == t) == (verdict == CONFIRMED))
        except (TypeError, ValueError, OverflowError):
            check_true = None
    used = [steps[0][0], steps[0][2]] + [s[2] for s in steps[1:]]
    try:
        uses_nums = nums is None or sorted(used) == sorted(int(n) for n in nums)
        hit = target is not None and arithmetic and value == int(target) and uses_nums
    except (TypeError, ValueError, OverflowError):
        hit = False
    return {"expression": " ".join(expression.split()), "value": value, "verdict": verdict,
            "steps": len(steps), "true_steps": true_steps, "arithmetic_true": arithmetic,
            "claimed_target": claimed, "check_true": check_true, "hit": bool(hit), "numbers": used}


def count_claims(text, target) -> tuple[int, int]:
    """(true claims, claims) of a trace's reasoning: each step ``a o b = r`` and each check is a claim.

    >>> count_claims("<think> 3 + 3 = 6 , 6 * 2 = 12 vs 18 wait ; 2 * 3 = 6 , 6 * 3 = 18 vs 18 ok </think>", 18)
    (6, 6)
    >>> count_claims("<think> 3 + 3 = 6 , 6 * 2 = 13 vs 18 ok </think>", 18)   # 6*2 is not 13; 13 is not 18
    (1, 3)
    """
    return claims_of(parse_tries(text, target))


def claims_of(tries: list[dict]) -> tuple[int, int]:
    """(true claims, claims) of tries read with a target by :func:`parse_tries`."""
    true = sum(t["true_steps"] + bool(t["check_true"]) for t in tries)
    return true, sum(t["steps"] + (t["verdict"] is not None) for t in tries)


def one_try_per_line(text: str) -> str:
    """The text with a line break after each go-back (``recheck ;``): one try per line, for reading.

    >>> print(one_try_per_line("3 + 3 = 6 vs 18 wait recheck ; 3 * 6 = 18 vs 18 ok"))
    3 + 3 = 6 vs 18 wait recheck ;
    3 * 6 = 18 vs 18 ok
    """
    return text.replace(f" {GO_BACK} {NEXT} ", f" {GO_BACK} {NEXT}\n")
