r"""`make bench-math`'s items and timings (scripts/bench/math.py): the MATH fixture's labelled answers,
random golds in the forms ``math_accuracy_reward``'s fast path handles, hostile completions, and
each timed for the reward and for plain math-verify (``rewards.math_rewards.reference_verdict``)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from rewards.math_rewards import math_accuracy_reward, reference_verdict
from rewards.text import last_boxed
from scripts.bench.common import clock, first_and_steady_ms
from scripts.lib.recipe.cli import UserError


def completion(answer: str) -> str:
    return f"<think> I work it out step by step. </think> <answer> {answer} </answer>"


def fixture_items(path: str) -> list[tuple[str, str, bool]]:
    """(gold, answer, labelled equal) for every answer in the fixture."""
    if not Path(path).is_file():
        raise UserError(f"fixture not found: {path}")
    items = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        gold = row.get("answer") or last_boxed(row["solution"])
        items += [(gold, a, True) for a in row.get("equivalent", [])] + [(gold, a, False) for a in row.get("wrong", [])]
    return items


def _frac(a: int, b: int) -> str:
    return f"\\frac{{{a}}}{{{b}}}"


# form -> (gold, answer) from a random generator; each the way MATH golds and model answers are written.
FAST_FORMS = {
    "integer": lambda r: (str(n := r.randint(-999, 9999)), str(n)),
    "integer wrong": lambda r: (str(n := r.randint(-999, 9999)), str(n + r.choice([-1, 1, 10]))),
    "boxed integer": lambda r: (str(n := r.randint(0, 999)), f"\\boxed{{{n}}}"),
    "decimal = fraction": lambda r: (_frac(a := r.randint(1, 99), 4), f"{a / 4:g}" if a % 4 else str(a // 4)),
    "fraction reduced": lambda r: (_frac(a := r.randint(1, 50), b := r.randint(51, 99)),
                                   f"\\dfrac{{{a * 3}}}{{{b * 3}}}"),
    "a/b = \\frac": lambda r: (_frac(a := r.randint(1, 99), b := r.randint(2, 99)), f"{a}/{b}"),
    "negative fraction": lambda r: ("-" + _frac(a := r.randint(1, 9), b := r.randint(11, 19)), f"-\\frac{{{a}}}{{{b}}}"),
    "fraction wrong": lambda r: (_frac(a := r.randint(1, 50), b := r.randint(51, 99)), _frac(a + 1, b)),
    "radical": lambda r: (f"{(k := r.randint(2, 9))}\\sqrt{{{(n := r.choice([2, 3, 5, 6, 7]))}}}", f"\\sqrt{{{k * k * n}}}"),
    "radical wrong": lambda r: (f"{r.randint(2, 9)}\\sqrt{{2}}", f"\\sqrt{{{r.choice([3, 5, 7])}}}"),
}


def fast_items(values: int, seed: int = 0) -> dict[str, list[tuple[str, str]]]:
    rng = random.Random(seed)
    return {form: [make(rng) for _ in range(values)] for form, make in FAST_FORMS.items()}


def time_both(pairs: list[tuple[str, str]]) -> dict:
    """Reward and plain math-verify on the same (gold, answer) pairs: seconds and verdicts."""

    texts, golds = [completion(a) for _, a in pairs], [g for g, _ in pairs]
    started = clock()
    ours = math_accuracy_reward(texts, solution=golds)
    ours_s = clock() - started
    started = clock()
    reference = [reference_verdict(g, a) for g, a in pairs]
    mv_s = clock() - started
    decided = [(o, v, p) for o, v, p in zip(ours, reference, pairs) if v is not None]
    return {"n": len(pairs), "ours_s": ours_s, "mv_s": mv_s, "decided": len(decided),
            "disagreements": [(p, o, v) for o, v, p in decided if (o == 1.0) != v]}


def hostile_completions() -> dict[str, str]:
    return {
        "10^6-char answer": "<answer>" + "1" * 1_000_000 + "</answer>",
        "10^6 unclosed braces in a box": "<answer>\\boxed{" + "{" * 500_000 + "</answer>",
        "10^6 chars, no tags": "a" * 1_000_000,
        "125k unclosed <answer> tags": "<answer>" * 125_000 + "</answer>",
        "power tower 9^{9^{9^9}}": "<answer>9^{9^{9^{9}}}</answer>",
        "10^{100000}": "<answer>10^{100000}</answer>",
        "9**9**9**9": "<answer>9**9**9**9</answer>",
        "10,000-deep parentheses": "<answer>" + "(" * 10_000 + "1" + ")" * 10_000 + "</answer>",
        "200-deep \\frac": "<answer>" + "\\frac{" * 200 + "1" + "}{2}" * 200 + "</answer>",
        "50-deep \\sqrt": "<answer>" + "\\sqrt{" * 50 + "2" + "}" * 50 + "</answer>",
        "100000!": "<answer>100000!</answer>",
        "\\binom{100000}{50000}": "<answer>\\binom{100000}{50000}</answer>",
        "__import__('os')": "<answer>__import__('os').system('echo pwned')</answer>",
        "unicode junk": "<answer>" + "\u202e\u0000\ud800🙂١٨" * 1000 + "</answer>",
        "\\frac{1}{0}": "<answer>\\frac{1}{0}</answer>",
    }


def bench_hostile(repeats: int = 3) -> list[tuple[str, float, float]]:
    """(input, first call ms, steady ms: fastest of ``repeats`` later calls)."""
    results = []
    for label, text in hostile_completions().items():
        def call(text=text, label=label):
            score = math_accuracy_reward([text], solution=["18"])
            assert score == [0.0], (label, score)

        results.append((label, *first_and_steady_ms(call, repeats)))
    return results
