"""Countdown: does the equation in ``<answer>`` use the given numbers and reach the target?

The equation is parsed with Python's ``ast`` and evaluated by walking the tree; only integer
literals, ``+ - * /`` (or ``× ÷ −``) and parentheses are allowed. Model text is never passed to
``eval``. The arithmetic is exact (fractions): ``(8 / 3) * 3`` is 8, with no float error.

Bounded on hostile input: an equation longer than ``MAX_EQUATION_CHARS``, with any other character
(names, calls, attributes, strings, floats), ``**`` or ``//``, or a literal of more than
``MAX_LITERAL_DIGITS`` digits scores 0 before anything is computed; so does division by zero.

>>> countdown_reward(["<answer> (2 * 3) * 3 </answer>"], nums=[[3, 2, 3]], target=[18])
[1.0]
>>> countdown_reward(["<answer> 6 * 3 </answer>"], nums=[[3, 2, 3]], target=[18])   # 6 is not given
[0.0]
>>> countdown_reward(["<answer> 3 * 3 * 2 = 18 </answer>"], nums=[[3, 2, 3]], target=[18])  # "= target" is fine
[1.0]
>>> countdown_reward(["<answer> __import__('os') </answer>"], nums=[[1]], target=[1])
[0.0]
>>> countdown_reward(["<answer> (3 × 3) ÷ (3 − 2) </answer>"], nums=[[3, 3, 3, 2]], target=[9])
[1.0]
"""

from __future__ import annotations

import ast
from collections import Counter
from fractions import Fraction

from rewards.text import broadcast, completion_text, extract_answer

MAX_EQUATION_CHARS = 200
MAX_LITERAL_DIGITS = 6
_ALLOWED_CHARS = set("0123456789+-*/() \t\n")
# The operators as typeset in prose and in many math datasets.
_UNICODE_OPS = str.maketrans({"×": "*", "÷": "/", "−": "-"})
_OPS = {ast.Add: Fraction.__add__, ast.Sub: Fraction.__sub__, ast.Mult: Fraction.__mul__, ast.Div: Fraction.__truediv__}


class _Rejected(Exception):
    pass


def _walk(node, used: list[int]) -> Fraction:
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left = _walk(node.left, used)
        right = _walk(node.right, used)
        if isinstance(node.op, ast.Div) and right == 0:
            raise _Rejected("division by zero")
        return _OPS[type(node.op)](left, right)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        if node.value >= 10**MAX_LITERAL_DIGITS:
            raise _Rejected("literal too large")
        used.append(node.value)
        return Fraction(node.value)
    raise _Rejected(f"not allowed: {type(node).__name__}")


def evaluate_equation(equation: str) -> tuple[Fraction, list[int]] | None:
    """(exact value, integers used) of an arithmetic expression, or None if it is not one.

    >>> evaluate_equation("(8 / 3) * 3")
    (Fraction(8, 1), [8, 3, 3])
    >>> evaluate_equation("9**9**9**9") is None, evaluate_equation("1/0") is None
    (True, True)
    """
    if not isinstance(equation, str) or len(equation) > MAX_EQUATION_CHARS:
        return None
    equation = equation.translate(_UNICODE_OPS)
    # The character whitelist rejects names, calls, attributes, strings and floats before parsing.
    if not set(equation) <= _ALLOWED_CHARS or "**" in equation or "//" in equation:
        return None
    try:
        tree = ast.parse(equation.strip(), mode="eval")
        used: list[int] = []
        value = _walk(tree.body, used)
    except (SyntaxError, ValueError, RecursionError, MemoryError, _Rejected):
        return None
    return value, used


def _as_int(value) -> int:
    # int(18.5) would silently be 18: only whole numbers are a Countdown number or target.
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"not a whole number: {value}")
    return int(value)


class CountdownReward:
    """1.0 if the answer's equation uses the numbers exactly once each and equals the target.

    ``allow_subset=True`` lets an equation leave some numbers unused (each still at most once).
    A row whose ``nums`` or ``target`` is missing or not integers scores None (cannot be checked).
    """

    __name__ = "countdown_reward"

    def __init__(self, allow_subset: bool = False):
        self.allow_subset = allow_subset

    def score(self, text: str, nums, target) -> float | None:
        try:
            given, target = Counter(_as_int(n) for n in nums), _as_int(target)
        except (TypeError, ValueError, OverflowError):
            return None
        answer = extract_answer(text)
        if answer is None:
            return 0.0
        if answer.count("=") == 1:
            answer, _, rhs = answer.partition("=")
            if rhs.strip() != str(target):
                return 0.0
        result = evaluate_equation(answer)
        if result is None:
            return 0.0
        value, used = result
        counted = Counter(used)
        fits = counted <= given if self.allow_subset else counted == given
        return 1.0 if fits and value == target else 0.0

    def __call__(self, completions, nums=None, target=None, **kwargs) -> list[float | None]:
        n = len(completions)
        return [
            self.score(completion_text(c), ns, t)
            for c, ns, t in zip(completions, broadcast(nums, n), broadcast(target, n))
        ]


countdown_reward = CountdownReward()
