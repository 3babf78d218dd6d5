"""Diagnostics, not rewards: does a completion re-check itself, and are its checks true?

R1-Zero's "aha" is the model starting, unprompted, to re-examine its own work ("wait, …"). These
functions measure that; they are logged, never rewarded (rewarding the words would teach them).

>>> has_self_check("3 + 4 = 7 vs 12 wait ; 3 * 4 = 12 vs 12 ok")
True
>>> has_self_check("the waiter brought 3 plates")       # whole words only
False

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
