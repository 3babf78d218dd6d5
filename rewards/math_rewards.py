r"""MATH accuracy: is the LaTeX answer inside ``<answer>`` equal to the gold answer?

The answer is the text of the last ``<answer>…</answer>`` block; if that text holds a
``\boxed{…}``, the content of its last one (braces balanced) is the answer. After a prompt that asks
for ``\boxed{}`` and has no ``<answer>`` tag (the Qwen-Math template, ``rewards.text.asks_for_boxed``),
the answer is the last ``\boxed{}`` of the whole completion instead, as Dr. GRPO / Oat-Zero score that
template (their ``boxed_reward_fn``). A gold that is a worked
solution is read the same way (its last ``\boxed{}``). One doctest per accepted answer form:

>>> R = math_accuracy_reward
>>> R(["<think>…</think> <answer>42</answer>", "<answer>-7</answer>"], solution=["42", "-7"])  # integers
[1.0, 1.0]
>>> R(["<answer>0.5</answer>", "<answer>1.50</answer>"], solution=["\\frac{1}{2}", "\\frac32"])  # decimals
[1.0, 1.0]
>>> R(["<answer>\\dfrac{3}{4}</answer>", "<answer>-\\frac{6}{8}</answer>"], solution=["3/4", "-0.75"])  # fractions
[1.0, 1.0]
>>> R(["<answer>\\sqrt{8}</answer>", "<answer>\\frac{\\sqrt{3}}{2}</answer>"],
...   solution=["2\\sqrt{2}", "\\frac{1}{2}\\sqrt{3}"])  # radicals
[1.0, 1.0]
>>> R(["<answer>[2, 5)</answer>", "<answer>(-\\infty,3]</answer>"], solution=["[2,5)", "(-\\infty, 3]"])  # intervals
[1.0, 1.0]
>>> R(["<answer>2 \\pi</answer>", "<answer>3.14159</answer>"], solution=["2\\pi", "\\pi"])  # pi is not a decimal
[1.0, 0.0]
>>> R(["<answer>5</answer>", "<answer>10\\text{ dollars}</answer>"], solution=["5\\text{ cm}", "10"])  # units stripped
[1.0, 1.0]
>>> R(["<answer>(x+1)^2</answer>", "<answer>\\{2,1\\}</answer>"], solution=["x^2+2x+1", "\\{1,2\\}"])  # expressions, sets
[1.0, 1.0]
>>> R(["<answer>The answer is \\boxed{\\frac{1}{2}}.</answer>"], solution=["0.5"])  # a \boxed{} inside the answer
[1.0]
>>> R(["the answer is \\boxed{7}", "<answer>8</answer>"], solution=["7", "7"])  # no <answer> block; a wrong one
[0.0, 0.0]
>>> R(["<answer>7</answer>"], solution=["\\boxed{"])  # a gold that cannot be read: cannot be checked
[None]
>>> qwen_math = "<|im_start|>system\\nPlease reason step by step, and put your final answer within \\\\boxed{}.<|im_end|>"
>>> R(["so \\boxed{6} then \\boxed{7}", "<answer>7</answer>"], solution=["7", "7"], prompts=[qwen_math] * 2)  # boxed
[1.0, 0.0]

How a verdict is reached
------------------------
The reference is math-verify on the two texts in math mode: ``verify(parse(f"${gold}$"),
parse(f"${answer}$"))`` (``reference_verdict``); wherever it parses both, the reward is its
verdict. A fast path (``fast_math_verdict``) reaches the same verdict without math-verify, ~200x
faster (78-737x by form, ``make bench-math``; RESULTS.md), for the forms MATH answers are most often written in:

* an integer or a decimal, optionally negative: ``42``, ``-7``, ``0.25`` (no ``+``, thousands
  separators or trailing ``.``: in math mode ``1,2`` is a set to math-verify);
* a fraction ``\frac{a}{b}``, ``\dfrac``, ``\tfrac``, ``\frac12`` or ``a/b``, optionally negative;
* a radical ``\sqrt{n}``, ``\sqrt2``, ``k\sqrt{n}``, optionally negative (compared in simplest
  form: ``\sqrt{8}`` is ``2\sqrt{2}``);

each optionally inside ``$…$``, ``\(…\)``, ``\[…\]`` or ``\boxed{}``. Decimals follow the GSM8K
reward's rule (``rewards/accuracy_rewards.py``, whose helpers this module reuses): math-verify
rounds to 6 places, so the fast path only decides when both sides are exact at 6 places.
Everything else (``\pi``, intervals, sets, units, expressions, equations) goes to math-verify.

Hostile answers are scored 0 without calling math-verify (``math_hostile_reason``): longer than
``MAX_MATH_ANSWER_CHARS``, brackets or parentheses nested deeper than ``MAX_PAREN_NESTING`` or braces
deeper than ``MAX_BRACE_NESTING``, more than ``MAX_POWERS`` powers or a power whose exponent is not
small (``9^{9^{9}}``, ``10^{1000}``), a factorial or binomial of a number with 5 digits or more.
math-verify's own timeout bounds anything else (main thread only). The reward never raises and never
executes model text (math-verify parses LaTeX into sympy; nothing is ``eval``-ed).
"""

from __future__ import annotations

import logging
import re
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from rewards.text import asks_for_boxed, broadcast, completion_text, extract_answer, last_boxed
from rewards.accuracy_rewards import (
    _POWER,
    MAX_NUMBER_CHARS,
    _exact_at_rounding,
    _parse_gold,
    _strip_wrappers,
    _timeout,
    big_factorial_or_binomial,
    deepest_nesting,
    math_verify_verdict,
)

logger = logging.getLogger(__name__)

# MATH answers are longer than GSM8K's (matrices, expressions, intervals), but not paragraphs.
MAX_MATH_ANSWER_CHARS = 300
# math-verify's parser slows steeply with ( and [ nesting (~0.1 s a level); braces cost little.
MAX_PAREN_NESTING = 4
MAX_BRACE_NESTING = 8
# Polynomials have several powers; each exponent must be small (no towers, no 10^{1000}).
MAX_POWERS = 8
# The fast path factors radicands by trial division: up to 10**6 that is <= 1000 steps.
MAX_RADICAND = 10**6
_FAST_NUMBER = re.compile(r"(?P<sign>-?)\s*(?P<int>\d+)(?:\.(?P<dec>\d+))?", re.ASCII)
_FAST_FRACTION = re.compile(
    r"(?P<sign>-?)\s*(?:\\[dt]?frac\s*(?:\{\s*(?P<a>\d+)\s*\}\s*\{\s*(?P<b>\d+)\s*\}|(?P<a1>\d)(?P<b1>\d))"
    r"|(?P<a2>\d+)\s*/\s*(?P<b2>\d+))",
    re.ASCII,
)
_FAST_SQRT = re.compile(r"(?P<sign>-?)\s*(?P<k>\d+)?\s*\\sqrt\s*(?:\{\s*(?P<n>\d+)\s*\}|(?P<n1>\d))", re.ASCII)
# One exponent: a single character or command, or a short braced/parenthesised group.
_EXPONENT = re.compile(
    r"\s*(?:\{(?P<brace>[^{}]{0,20})\}|\((?P<paren>[^()]{0,20})\)|(?P<one>\\[A-Za-z]+|[+-]?\d{1,3}(?!\d)|[^{(\s\d]))",
    re.ASCII | re.DOTALL,
)
_LONG_DIGITS = re.compile(r"\d{4,}", re.ASCII)


class _Radical(NamedTuple):
    coefficient: Fraction  # value = coefficient * sqrt(radicand), radicand square-free
    radicand: int
    is_float: bool  # written with decimals: math-verify compares it rounded to 6 places


def _square_free(n: int) -> tuple[int, int]:
    """(k, m) with n = k**2 * m and m square-free."""
    k, m, f = 1, n, 2
    while f * f <= m:
        while m % (f * f) == 0:
            m //= f * f
            k *= f
        f += 1
    return k, m


def _read_math(text: str) -> _Radical | None:
    """A value written in one of the fast-path forms (module docstring), or None."""
    if not isinstance(text, str) or len(text) > MAX_MATH_ANSWER_CHARS:
        return None
    text, _ = _strip_wrappers(text.strip())
    if len(text) > 2 * MAX_NUMBER_CHARS:
        return None
    match = _FAST_NUMBER.fullmatch(text)
    if match:
        digits, decimals = match.group("int"), match.group("dec") or ""
        if len(digits) + len(decimals) > MAX_NUMBER_CHARS:
            return None
        value = Fraction(int(digits + decimals), 10 ** len(decimals)) if decimals else Fraction(int(digits))
        return _Radical(-value if match.group("sign") else value, 1, bool(decimals))
    match = _FAST_FRACTION.fullmatch(text)
    if match:
        a = match.group("a") or match.group("a1") or match.group("a2")
        b = match.group("b") or match.group("b1") or match.group("b2")
        if len(a) > MAX_NUMBER_CHARS or len(b) > MAX_NUMBER_CHARS or int(b) == 0:
            return None  # a division by zero is math-verify's to judge
        value = Fraction(int(a), int(b))
        return _Radical(-value if match.group("sign") else value, 1, False)
    match = _FAST_SQRT.fullmatch(text)
    if match:
        k, n = match.group("k") or "1", int(match.group("n") or match.group("n1"))
        if len(k) > MAX_NUMBER_CHARS or n > MAX_RADICAND:
            return None
        outside, inside = _square_free(n)
        value = Fraction(int(k) * outside) if inside else Fraction(0)
        return _Radical(-value if match.group("sign") else value, inside if value else 1, False)
    return None


def _fast(g: _Radical | None, a: _Radical | None) -> bool | None:
    if g is None or a is None:
        return None
    if g.is_float or a.is_float:
        if g.radicand != 1 or a.radicand != 1:
            return None  # a decimal against an irrational: math-verify's rounding decides
        if not (_exact_at_rounding(g.coefficient) and _exact_at_rounding(a.coefficient)):
            return None
    return g.coefficient == a.coefficient and (g.radicand == a.radicand or g.coefficient == 0)


def fast_math_verdict(gold: str, answer: str) -> bool | None:
    r"""math-verify's verdict on two values in fast-path forms, or None to ask math-verify.

    >>> fast_math_verdict("2\\sqrt{2}", "\\sqrt{8}"), fast_math_verdict("\\frac{1}{2}", "0.5")
    (True, True)
    >>> fast_math_verdict("3", "-3"), fast_math_verdict("\\pi", "3.14159"), fast_math_verdict("1,2", "2,1")
    (False, None, None)
    """
    return _fast(_read_math(gold), _read_math(answer))


def _small_exponent(text: str, after: int) -> bool:
    match = _EXPONENT.match(text, after)
    if not match or text[match.end():].lstrip().startswith(("^", "**", "!")):
        return False  # no readable exponent, a tower (9^9^9, 9**9**9), or a factorial of the power (9^9!)
    exponent = match.group("brace") if match.group("brace") is not None else match.group("paren")
    if exponent is None:
        return True  # one character, a command such as \circ, or a number of at most 3 digits
    return not _POWER.search(exponent) and not _LONG_DIGITS.search(exponent) and "!" not in exponent


def math_hostile_reason(answer: str) -> str | None:
    r"""Why math-verify is not asked about ``answer`` (it could take seconds), or None.

    >>> math_hostile_reason("9^{9^{9}}"), math_hostile_reason("x^3+3x^2+3x+1"), math_hostile_reason("10^{1000}")
    ('a power with a large exponent', None, 'a power with a large exponent')
    >>> math_hostile_reason("9**9**9**9"), math_hostile_reason("2^{n+1} + 3^{2}")
    ('a power with a large exponent', None)
    >>> math_hostile_reason("9!^{9!}"), math_hostile_reason("9^9!"), math_hostile_reason("9!!!!"), math_hostile_reason("4!")
    ('a power with a large exponent', 'a power with a large exponent', 'a large factorial or binomial', None)
    >>> math_hostile_reason("(" * 5 + "1" + ")" * 5), math_hostile_reason("\\frac{\\sqrt{3}}{2}")
    ('parentheses nested deeper than 4', None)
    """
    if len(answer) > MAX_MATH_ANSWER_CHARS:
        return f"longer than {MAX_MATH_ANSWER_CHARS} characters"
    if deepest_nesting(answer, "([", ")]") > MAX_PAREN_NESTING:
        return f"parentheses nested deeper than {MAX_PAREN_NESTING}"
    if deepest_nesting(answer, "{", "}") > MAX_BRACE_NESTING:
        return f"braces nested deeper than {MAX_BRACE_NESTING}"
    powers = list(_POWER.finditer(answer))
    if len(powers) > MAX_POWERS:
        return f"more than {MAX_POWERS} powers"
    if any(not _small_exponent(answer, p.end()) for p in powers):
        return "a power with a large exponent"
    if big_factorial_or_binomial(answer):
        return "a large factorial or binomial"
    return None


def _parse_math(text: str, timeout: int | None):
    return _parse_gold(f"${text}$", timeout)  # cached: a gold is scored against num_generations answers


def reference_verdict(gold: str, answer: str, timeout: int | None = None) -> bool | None:
    """Plain math-verify: ``verify(parse($gold$), parse($answer$))``; None if a side does not parse.

    No guard, no cache: the bench's reference. ``timeout`` in whole seconds (main thread only).
    """
    from math_verify import parse, verify

    gold_parsed = parse(f"${gold}$", parsing_timeout=timeout)
    answer_parsed = parse(f"${answer}$", parsing_timeout=timeout)
    if not gold_parsed or not answer_parsed:
        return None
    return bool(verify(gold_parsed, answer_parsed, timeout_seconds=timeout))


def gold_answer(gold) -> str | None:
    r"""The gold as the reward compares it: its last ``\boxed{}`` if it has one, else the text."""
    if gold is None:
        return None
    gold = str(gold).strip()
    boxed = last_boxed(gold) if "\\" in gold else None
    return boxed if boxed is not None else gold or None


@lru_cache(maxsize=4096)
def gold_is_checkable(gold: str) -> bool:
    if _read_math(gold) is not None:
        return True
    if math_hostile_reason(gold) is not None:
        return False
    try:
        # math-verify falls back to the raw string when it reads no math ("\\boxed{", "???"):
        # such a gold would only ever match itself, character for character.
        return any(not isinstance(item, str) for item in _parse_math(gold, _timeout()))
    except Exception:  # noqa: BLE001
        return False


def answer_text(completion, boxed: bool = False) -> str | None:
    r"""The answer a completion gives: its last ``<answer>`` block, or the last ``\boxed{}`` inside it;
    with ``boxed``, the last ``\boxed{}`` of the completion."""
    if boxed:
        return last_boxed(completion_text(completion))
    answer = extract_answer(completion_text(completion))
    if answer is None:
        return None
    boxed = last_boxed(answer)
    return boxed if boxed is not None else answer


def math_answers_match(gold: str, answer: str) -> bool:
    """The reward's verdict on one answer text: fast path, else math-verify, else False."""
    verdict = _fast(_read_math(gold), _read_math(answer))
    if verdict is None and math_hostile_reason(answer) is None:
        verdict = math_verify_verdict(gold, answer, math_mode=True)
    return bool(verdict)


def math_accuracy_reward(completions, solution=None, prompts=None, **kwargs) -> list[float | None]:
    """1.0 if the answer equals the gold answer (``solution`` column), 0.0 if not, None if the gold cannot be read."""
    golds = broadcast(solution, len(completions))
    prompts = broadcast(prompts, len(completions))
    scores: list[float | None] = []
    for completion, raw_gold, prompt in zip(completions, golds, prompts):
        try:
            gold = gold_answer(raw_gold)
            if gold is None or not gold_is_checkable(gold):
                scores.append(None)
                continue
            answer = answer_text(completion, boxed=prompt is not None and asks_for_boxed(prompt))
            scores.append(1.0 if answer is not None and math_answers_match(gold, answer) else 0.0)
        except Exception:  # noqa: BLE001 - belt and braces: never raise on model text
            logger.debug("math_accuracy_reward failed", exc_info=True)
            scores.append(0.0)
    return scores
