r"""GSM8K accuracy: is the number inside ``<answer>`` equal to the gold number?

The answer is read from the last ``<answer>…</answer>`` block only (a number elsewhere in the
reasoning does not count, unless ``fallback_to_last_number`` is set). A fast path normalises the
forms models write for a plain number and compares exactly (as fractions, so ``0.1 + 0.2`` style
float error cannot creep in):

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

Anything the fast path cannot read as one number (``x = 18``, ``18 apples``, ``\sqrt{324}``) goes to
math-verify, which decides or says no.
"""

from __future__ import annotations

import logging
import re
import threading
from fractions import Fraction

from rewards._text import broadcast, completion_text, extract_answer

logger = logging.getLogger(__name__)

# Answers longer than this are not numbers; math-verify on megabytes of text is slow.
MAX_ANSWER_CHARS = 200
# Digits beyond this are not a GSM8K answer, and Fraction("1" * 10**6) would take seconds.
MAX_NUMBER_CHARS = 40

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?:\D|$))")
_FRAC = re.compile(r"^\\[dt]?frac\{([^{}]+)\}\{([^{}]+)\}$")
_SIMPLE_FRAC = re.compile(r"^([+-]?\d+)\s*/\s*(\d+)$")
_LAST_NUMBER = re.compile(r"[+-]?\d[\d,]*(?:\.\d+)?")


def _unwrap(text: str) -> str:
    """Strip wrappers that do not change a number: \\boxed{}, $…$, \\text{}, currency, percent."""
    text = text.strip()
    for _ in range(3):
        before = text
        boxed = re.fullmatch(r"\\boxed\{(.*)\}", text, re.DOTALL)
        if boxed:
            text = boxed.group(1).strip()
        if len(text) >= 2 and text[0] == "$" and text[-1] == "$" and text.count("$") == 2:
            text = text[1:-1].strip()
        text = re.sub(r"^\\\(|\\\)$", "", text).strip()
        text = text.replace("\\$", "").replace("\\%", "").replace("\\!", "").replace("\\,", "")
        text = text.lstrip("$").rstrip("%").strip()
        text = re.sub(r"\\(?:text|mathrm)\{\s*\}", "", text).strip()
        if text == before:
            break
    return text


def parse_number(text: str) -> Fraction | None:
    """A plain number written in one of the usual forms, or None if ``text`` is anything else.

    >>> parse_number("1,234.50"), parse_number("+7"), parse_number("\\\\frac{3}{4}"), parse_number("x=3")
    (Fraction(2469, 2), Fraction(7, 1), Fraction(3, 4), None)
    """
    if not isinstance(text, str) or len(text) > MAX_ANSWER_CHARS:
        return None
    text = _THOUSANDS.sub("", _unwrap(text))
    if len(text) > MAX_NUMBER_CHARS:
        return None
    if _NUMBER.fullmatch(text):
        return Fraction(text.rstrip("."))
    frac = _FRAC.match(text) or _SIMPLE_FRAC.match(text)
    if frac:
        num, den = parse_number(frac.group(1)), parse_number(frac.group(2))
        if num is not None and den:
            return num / den
    return None


def _math_verify_equal(gold: str, answer: str) -> bool | None:
    """math-verify's verdict, or None when it cannot parse one side (or is not installed)."""
    try:
        from math_verify import parse, verify
    except ImportError:  # pragma: no cover - math-verify is a dependency
        return None
    # math-verify times out with signal.alarm, which only works in the main thread.
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    try:
        gold_parsed = parse(gold, parsing_timeout=timeout)
        answer_parsed = parse(answer, parsing_timeout=timeout)
        if not gold_parsed or not answer_parsed:
            return None
        return bool(verify(gold_parsed, answer_parsed, timeout_seconds=timeout))
    except Exception:  # noqa: BLE001 - a reward must never raise on model text
        logger.debug("math-verify failed on %r vs %r", gold, answer, exc_info=True)
        return None


def answers_match(gold: str, answer: str) -> bool:
    gold_value = parse_number(gold)
    answer_value = parse_number(answer)
    if gold_value is not None and answer_value is not None:
        return gold_value == answer_value
    if len(answer) > MAX_ANSWER_CHARS:
        return False
    verdict = _math_verify_equal(gold, answer if "$" in answer or "\\" in answer else f"${answer}$")
    return bool(verdict)


class GSM8KAccuracyReward:
    """1.0 if the answer equals the gold number, 0.0 if not, None if the gold cannot be read."""

    __name__ = "gsm8k_accuracy_reward"

    def __init__(self, fallback_to_last_number: bool = False):
        self.fallback_to_last_number = fallback_to_last_number

    def __call__(self, completions, solution=None, **kwargs) -> list[float | None]:
        golds = broadcast(solution, len(completions))
        scores: list[float | None] = []
        for completion, gold in zip(completions, golds):
            if gold is None or (parse_number(str(gold)) is None and _math_verify_equal(str(gold), str(gold)) is None):
                scores.append(None)
                continue
            text = completion_text(completion)
            answer = extract_answer(text)
            if answer is None and self.fallback_to_last_number:
                numbers = _LAST_NUMBER.findall(text[-2000:])
                answer = numbers[-1] if numbers else None
            scores.append(1.0 if answer is not None and answers_match(str(gold), answer) else 0.0)
        return scores


gsm8k_accuracy_reward = GSM8KAccuracyReward()
