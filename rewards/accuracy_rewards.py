r"""GSM8K accuracy: is the number inside ``<answer>`` equal to the gold number?

The answer is read from the last ``<answer>…</answer>`` block only: a number elsewhere in the
reasoning does not count, unless the recipe sets ``gsm8k_fallback_last_number: true`` (then a
completion with no answer block is scored on the last number it contains).

>>> gsm8k_accuracy_reward(["<think>…</think> <answer>1,000</answer>"], solution=["1000"])
[1.0]
>>> gsm8k_accuracy_reward(["<answer>$18.00</answer>", "<answer>\\boxed{18}</answer>"], solution=["18", "18"])
[1.0, 1.0]
>>> gsm8k_accuracy_reward(["<answer>\\frac{3}{4}</answer>", "<answer>17</answer>"], solution=["0.75", "18"])
[1.0, 0.0]
>>> gsm8k_accuracy_reward(["the answer is 18"], solution=["18"])      # no <answer> block
[0.0]
>>> gsm8k_accuracy_reward(["<answer>18</answer>"], solution=["eighteen"])  # gold cannot be checked
[None]

How a verdict is reached
------------------------
The reference is math-verify: ``verify(parse(gold), parse(answer))`` with ``answer`` the text of
the answer block. Wherever math-verify parses both sides, the reward is its verdict. A fast path
reaches that same verdict without math-verify for the forms models write for one number, ~200x
faster (`make bench-rewards`):

* a plain number, optionally signed, with ``1,000``-style thousands separators, decimals or a
  trailing ``.``: ``18``, ``-5``, ``1,234.50``, ``18.``;
* as currency ``$18`` or ``\$18``, in math mode ``$18$``, ``\(18\)``, ``\[18\]``, ``$$18$$``, boxed
  ``\boxed{18}`` / ``$\boxed{18}$``, with a currency sign inside (``\boxed{\$18}``);
* a fraction ``3/4`` or ``\frac{3}{4}`` (``\dfrac``, ``\tfrac``), optionally negative and wrapped
  as above.

Integers and fractions compare exactly. math-verify rounds decimals to 6 places before comparing,
so the fast path only decides a decimal comparison when both sides are exact at 6 places (``0.75``
vs ``\frac{3}{4}``: yes; ``0.333333`` vs ``\frac{1}{3}``: left to math-verify, which says equal).
Everything else (``x = 18``, ``18 apples``, percentages, whose meaning math-verify reads from the
context) goes to math-verify. Where math-verify cannot parse a side, the fast path's verdict stands
(``+18`` and ``\$18`` are 18; math-verify reads neither), and an answer neither can read scores 0.

Hostile answers are scored 0 without calling math-verify, which can take seconds on them: longer
than ``MAX_ANSWER_CHARS``, brackets nested deeper than ``MAX_NESTING``, more than one power or a
power whose exponent is not a small number (``9**9**9**9``), a factorial or binomial of a number
with ``MAX_FACTORIAL_DIGITS`` digits or more. math-verify's own timeout (``MATH_VERIFY_TIMEOUT_S``,
main thread only, as its signal-based timeout requires) bounds anything else.
"""

from __future__ import annotations

import logging
import re
import threading
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from rewards.text import broadcast, completion_text, extract_answer

logger = logging.getLogger(__name__)

# Longer answers are not one number, and math-verify on long text is slow.
MAX_ANSWER_CHARS = 200
# Digits beyond this are not a GSM8K answer, and Fraction("1" * 10**6) would take seconds.
MAX_NUMBER_CHARS = 40
# math-verify's LaTeX parser slows down steeply with nesting: each level of ( [ { costs ~0.1 s.
MAX_NESTING = 4
MAX_FACTORIAL_DIGITS = 5
# Whole seconds (math-verify uses signal.alarm). Ordinary answers take 1-10 ms; TRL uses 5-10 s.
MATH_VERIFY_TIMEOUT_S = 1
# math-verify's `verify` rounds floats to this many decimals (its `float_rounding` default).
_MV_FLOAT_ROUNDING = 6

_SIGN = r"(?P<sign>[+-]?)"
# Thousands groups as math-verify reads them: "1,000" is 1000; "001,000" and "12,34" are not.
_INT = r"(?P<int>[1-9]\d{0,2}(?:,\d{3})+|\d+)"
# re.ASCII: `\d` would otherwise accept any Unicode digit ("١٨"), which math-verify does not read.
_DECIMAL = re.compile(_SIGN + _INT + r"(?:\.(?P<dec>\d+))?", re.ASCII)
_DECIMAL_DOT = re.compile(_SIGN + _INT + r"(?:\.(?P<dec>\d+)|\.)?", re.ASCII)
_FRACTION = re.compile(
    _SIGN + r"(?:\\[dt]?frac\{\s*(?P<a>\d+)\s*\}\{\s*(?P<b>\d+)\s*\}|(?P<a2>\d+)\s*/\s*(?P<b2>\d+))", re.ASCII
)
_BOXED = re.compile(r"\\boxed\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}", re.ASCII)
_MATH_DELIMITERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_CURRENCY = re.compile(r"^(?:\\\$|\$)\s*")

_POWER = re.compile(r"\*\*|\^")
# A one- or two-digit (or one-letter) exponent, not followed by a factorial (`9^{9!}`, `9^9!`).
_SMALL_EXPONENT = re.compile(r"(?:\*\*|\^)\s*[{(]?\s*[+-]?\s*(?:\d{1,2}|[A-Za-z])\s*[})]?(?![\d.!])", re.ASCII)
# A factorial of a large number, of a group (`(9!)!`), or of a factorial (`9!!!!`: each `!` multiplies the
# digits; sympy computes them exactly, holding the GIL, where no signal.alarm timeout can stop it).
_BIG_FACTORIAL = re.compile(r"(?:\d{%d,}|[)}!])\s*!" % MAX_FACTORIAL_DIGITS, re.ASCII)
_BIG_BINOMIAL = re.compile(r"\\[dt]?binom|\\choose", re.ASCII)
_LAST_NUMBER = re.compile(r"[+-]?\d[\d,]*(?:\.\d+)?", re.ASCII)


class _Number(NamedTuple):
    value: int | Fraction | None  # an int when whole (cheaper to build than a Fraction); None: division by zero
    is_float: bool  # written with decimals: math-verify compares it rounded to 6 places


def _strip_wrappers(text: str) -> tuple[str, bool]:
    """(the text inside math delimiters and \\boxed{}, whether any were there)."""
    math = False
    for _ in range(2):
        if not text.startswith(("$", "\\")):  # every wrapper opens with one of these
            break
        for open_, close in _MATH_DELIMITERS:
            if text.startswith(open_) and text.endswith(close) and len(text) > len(open_) + len(close):
                text, math = text[len(open_):-len(close)].strip(), True
                break
        boxed = _BOXED.fullmatch(text)
        if boxed:
            text, math = boxed.group(1).strip(), True
    return text, math


def _read(text: str) -> _Number | None:
    """A number written in one of the fast-path forms (module docstring), or None."""
    if len(text) > MAX_ANSWER_CHARS:
        return None
    text, math = _strip_wrappers(text.strip())
    text, currency = _CURRENCY.subn("", text, count=1)
    # math-verify reads "18." as 18 in plain text but keeps "\boxed{18.}" as an unparsed string,
    # and reads "$+4,285.8$" as something other than 4285.8: such forms are left to it.
    match = (_DECIMAL if math else _DECIMAL_DOT).fullmatch(text)
    if match and math and match.group("sign") == "+":
        return None
    if match:
        digits = match.group("int").replace(",", "")
        if len(digits) > MAX_NUMBER_CHARS:
            return None
        decimals = match.group("dec") or ""
        value = Fraction(int(digits + decimals), 10 ** len(decimals)) if decimals else int(digits)
        return _Number(-value if match.group("sign") == "-" else value, bool(decimals))
    match = None if currency else _FRACTION.fullmatch(text)  # "$14/6" is not 7/3 to math-verify
    if match and not (math and match.group("sign") == "+"):
        a, b = match.group("a") or match.group("a2"), match.group("b") or match.group("b2")
        if len(a) > MAX_NUMBER_CHARS or len(b) > MAX_NUMBER_CHARS:
            return None
        if int(b) == 0:
            return _Number(None, False)
        value = Fraction(int(a), int(b))
        return _Number(-value if match.group("sign") == "-" else value, False)
    return None


def parse_number(text: str) -> Fraction | None:
    """The value of a number written in a fast-path form, or None if ``text`` is anything else.

    >>> parse_number("1,234.50"), parse_number("+7"), parse_number("\\\\frac{3}{4}"), parse_number("x=3")
    (Fraction(2469, 2), Fraction(7, 1), Fraction(3, 4), None)
    """
    number = _read(text) if isinstance(text, str) else None
    return Fraction(number.value) if number is not None and number.value is not None else None


def _exact_at_rounding(value: Fraction) -> bool:
    scaled = value * 10**_MV_FLOAT_ROUNDING
    # Under 14 significant digits sympy's 15-digit floats hold the value exactly enough to round it.
    return scaled.denominator == 1 and abs(scaled.numerator) < 10**14


def _verdict(g: _Number | None, a: _Number | None) -> bool | None:
    if g is None or a is None or g.value is None:
        return None
    if a.value is None:
        return False  # a division by zero equals no number
    if (g.is_float or a.is_float) and not (_exact_at_rounding(g.value) and _exact_at_rounding(a.value)):
        return None
    return g.value == a.value


def fast_verdict(gold: str, answer: str) -> bool | None:
    """math-verify's verdict on two numbers in fast-path forms, or None to ask math-verify.

    >>> fast_verdict("18", "$18.00"), fast_verdict("0.75", "\\\\frac{3}{4}"), fast_verdict("18", "18 apples")
    (True, True, None)
    """
    return _verdict(_read(gold), _read(answer))


def hostile_reason(answer: str) -> str | None:
    """Why math-verify is not asked about ``answer`` (it could take seconds), or None.

    >>> hostile_reason("9**9**9**9"), hostile_reason("2^{10}"), hostile_reason("(" * 50 + "1" + ")" * 50)
    ('more than one power', None, 'nested deeper than 4')
    >>> hostile_reason("9!!!!!!!!"), hostile_reason("((9!)!)!"), hostile_reason("5!")
    ('a large factorial or binomial', 'a large factorial or binomial', None)
    """
    if len(answer) > MAX_ANSWER_CHARS:
        return f"longer than {MAX_ANSWER_CHARS} characters"
    if deepest_nesting(answer, "([{", ")]}") > MAX_NESTING:
        return f"nested deeper than {MAX_NESTING}"
    powers = len(_POWER.findall(answer))
    if powers > 1:
        return "more than one power"
    if powers == 1 and not _SMALL_EXPONENT.search(answer):
        return "a power with a large exponent"
    if big_factorial_or_binomial(answer):
        return "a large factorial or binomial"
    return None


def deepest_nesting(answer: str, opening: str, closing: str) -> int:
    """How deep the brackets ``opening`` / ``closing`` nest in ``answer``.

    >>> deepest_nesting("((1)+[2])", "([", ")]"), deepest_nesting("{a}{b}", "{", "}")
    (2, 1)
    """
    depth = deepest = 0
    for char in answer:
        if char in opening:
            depth += 1
            deepest = max(deepest, depth)
        elif char in closing:
            depth -= 1
    return deepest


def big_factorial_or_binomial(answer: str) -> bool:
    """A factorial of a large number, of a group or of a factorial, or a binomial with a large number in it."""
    return bool(_BIG_FACTORIAL.search(answer) or (
        _BIG_BINOMIAL.search(answer) and re.search(r"\d{%d,}" % MAX_FACTORIAL_DIGITS, answer)))


def _timeout() -> int | None:
    # math-verify times out with signal.alarm, which only works in the main thread.
    return MATH_VERIFY_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None


@lru_cache(maxsize=4096)
def _parse_gold(gold: str, timeout: int | None):
    # Each gold is scored against num_generations completions: parse it once.
    from math_verify import parse

    return parse(gold, parsing_timeout=timeout)


def math_verify_verdict(gold: str, answer: str, math_mode: bool = False) -> bool | None:
    """``verify(parse(gold), parse(answer))``, or None when math-verify cannot parse a side.

    ``math_mode``: both sides are read as LaTeX math (``$…$``), the way MATH writes its answers.
    """
    from math_verify import parse, verify

    if math_mode:
        gold, answer = f"${gold}$", f"${answer}$"
    timeout = _timeout()
    try:
        gold_parsed = _parse_gold(gold, timeout)
        answer_parsed = parse(answer, parsing_timeout=timeout) if gold_parsed else None
        if not gold_parsed or not answer_parsed:
            return None
        return bool(verify(gold_parsed, answer_parsed, timeout_seconds=timeout))
    except Exception:  # noqa: BLE001 - a reward must never raise on model text
        logger.debug("math-verify failed on %r vs %r", gold, answer, exc_info=True)
        return None


@lru_cache(maxsize=4096)
def _read_gold(gold: str) -> _Number | None:
    # Each gold is scored against num_generations completions: read it once.
    return _read(gold)


def gold_is_checkable(gold) -> bool:
    if gold is None:
        return False
    gold = str(gold)
    if _read_gold(gold) is not None:
        return True
    try:
        return bool(_parse_gold(gold, _timeout()))
    except Exception:  # noqa: BLE001
        return False


def answers_match(gold: str, answer: str) -> bool:
    """The reward's verdict on one answer text: fast path, else math-verify, else exact values, else False."""
    g, a = _read_gold(gold), _read(answer)
    verdict = _verdict(g, a)
    if verdict is None and hostile_reason(answer) is None:
        verdict = math_verify_verdict(gold, answer)
    if verdict is None:
        # math-verify cannot read a side (`+18`, `\$18`): the numbers' exact values decide.
        verdict = g is not None and a is not None and a.value is not None and g.value == a.value
    return verdict


class GSM8KAccuracyReward:
    """1.0 if the answer equals the gold number, 0.0 if not, None if the gold cannot be read."""

    __name__ = "gsm8k_accuracy_reward"

    def __init__(self, fallback_to_last_number: bool = False):
        self.fallback_to_last_number = fallback_to_last_number

    def answer_text(self, completion) -> str | None:
        text = completion_text(completion)
        answer = extract_answer(text)
        if answer is None and self.fallback_to_last_number:
            # Only the tail: a number at the end of a megabyte of text is still found in microseconds.
            numbers = _LAST_NUMBER.findall(text[-2000:])
            answer = numbers[-1].rstrip(",") if numbers else None
        return answer

    def __call__(self, completions, solution=None, **kwargs) -> list[float | None]:
        golds = broadcast(solution, len(completions))
        scores: list[float | None] = []
        for completion, gold in zip(completions, golds):
            if not gold_is_checkable(gold):
                scores.append(None)
                continue
            answer = self.answer_text(completion)
            scores.append(1.0 if answer is not None and answers_match(str(gold), answer) else 0.0)
        return scores


gsm8k_accuracy_reward = GSM8KAccuracyReward()
