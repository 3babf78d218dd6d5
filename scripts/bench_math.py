r"""`make bench-math`: does math_accuracy_reward agree with plain math-verify, how much faster is it, is it bounded?

    python -m scripts.bench_math                     # tests/fixtures/math_small.jsonl, 400 values per form
    python -m scripts.bench_math --values 100        # quicker

1. Agreement: every answer of the fixture (each problem's equal-but-differently-written answers and
   its answers that must not match) and every synthetic answer below is scored by
   ``math_accuracy_reward`` (as a ``<think>…</think> <answer>…</answer>`` completion) and by plain
   math-verify, ``verify(parse(f"${gold}$"), parse(f"${answer}$"))`` on the answer text
   (``rewards.math_rewards.reference_verdict``). Agreement: the reward is 1.0 exactly when
   ``verify`` is True, over the items where math-verify parses both sides.
2. Speed on the forms the fast path handles (integers, decimals, fractions, radicals, each right and
   wrong, boxed or not): ``--values`` random golds per form, timed in one run for the reward and for
   plain math-verify; the fixture's other forms (intervals, ``\pi``, sets, expressions) are timed too,
   for information (they go to math-verify, so no speed-up is expected).
3. Hostile completions (megabyte strings, power towers, deep nesting, huge factorials), one at a
   time: the slowest steady call.

Targets (issue 19): 100 % agreement, >= 20x plain math-verify's items/s on the fast-path forms,
slowest hostile call < 50 ms. A missed target prints MISSED and exits 1. Times are this process's
CPU time (``--clock wall`` for elapsed time): on a shared machine wall time mostly measures others.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path

from scripts.lib.cli import ArgumentParser, UserError, print_targets, run_cli

DEFAULT_FIXTURE = "tests/fixtures/math_small.jsonl"
TARGET_SPEEDUP = 20.0
TARGET_WORST_MS = 50.0
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
CLOCK = [CLOCKS["cpu"]]


def completion(answer: str) -> str:
    return f"<think> I work it out step by step. </think> <answer> {answer} </answer>"


def fixture_items(path: str) -> list[tuple[str, str, bool]]:
    """(gold, answer, labelled equal) for every answer in the fixture."""
    from rewards.math_rewards import last_boxed

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
    from rewards.math_rewards import math_accuracy_reward, reference_verdict

    texts, golds = [completion(a) for _, a in pairs], [g for g, _ in pairs]
    started = CLOCK[0]()
    ours = math_accuracy_reward(texts, solution=golds)
    ours_s = CLOCK[0]() - started
    started = CLOCK[0]()
    reference = [reference_verdict(g, a) for g, a in pairs]
    mv_s = CLOCK[0]() - started
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
    from rewards.math_rewards import math_accuracy_reward

    results = []
    for label, text in hostile_completions().items():
        times = []
        for _ in range(1 + repeats):
            started = CLOCK[0]()
            score = math_accuracy_reward([text], solution=["18"])
            times.append((CLOCK[0]() - started) * 1000)
            assert score == [0.0], (label, score)
        results.append((label, times[0], min(times[1:])))
    return results


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("fixture", nargs="?", default=DEFAULT_FIXTURE, help=f"MATH fixture (default {DEFAULT_FIXTURE})")
    parser.add_argument("--values", type=int, default=400, help="Random golds per fast-path form.")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    args = parser.parse_args(argv)
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    CLOCK[0] = CLOCKS[args.clock]

    from rewards.math_rewards import math_accuracy_reward, reference_verdict

    # One-time imports and caches, for both, not timed.
    reference_verdict("\\frac{1}{2}", "0.5")
    math_accuracy_reward([completion("(x+1)^2")], solution=["x^2+2x+1"])

    fixture = fixture_items(args.fixture)
    forms = fast_items(args.values)
    print(f"math_accuracy_reward vs plain math-verify (verify(parse($gold$), parse($answer$))), {args.clock} time")
    header = f"{'answers':<22} {'items':>6} {'ours/s':>10} {'mv/s':>8} {'speed-up':>9} {'mv decides':>10} {'agree':>8}"
    print("\n" + header + "\n" + "-" * len(header))
    fast_total = {"n": 0, "ours_s": 0.0, "mv_s": 0.0, "decided": 0}
    disagreements = []

    def row(label: str, r: dict) -> None:
        ours, mv = _rate(r["n"], r["ours_s"]), _rate(r["n"], r["mv_s"])
        agree = 1 - len(r["disagreements"]) / max(r["decided"], 1)
        print(f"{label:<22} {r['n']:>6} {ours:>10,.0f} {mv:>8,.0f} {ours / mv:>8,.1f}x {r['decided']:>10} {agree:>8.2%}")

    for form, pairs in forms.items():
        r = time_both(pairs)
        row(form, r)
        disagreements += r["disagreements"]
        for key in fast_total:
            fast_total[key] += r[key]
    ours_fast, mv_fast = _rate(fast_total["n"], fast_total["ours_s"]), _rate(fast_total["n"], fast_total["mv_s"])
    speedup = ours_fast / mv_fast
    print(f"{'fast-path forms':<22} {fast_total['n']:>6} {ours_fast:>10,.0f} {mv_fast:>8,.0f} {speedup:>8,.1f}x")

    r = time_both([(g, a) for g, a, _ in fixture])
    row(f"fixture ({len(fixture)})", r)
    disagreements += r["disagreements"]
    mislabelled = [(g, a, m) for g, a, m in fixture if reference_verdict(g, a) is not m]
    undecided = len(fixture) - r["decided"]
    for (gold, answer), ours, verdict in disagreements[:5]:
        print(f"disagreement: gold {gold!r} answer {answer!r}: ours={ours} math-verify={verdict}")
    for gold, answer, label in mislabelled[:5]:
        print(f"fixture label differs from math-verify: gold {gold!r} answer {answer!r} labelled {label}")

    print("\nhostile input: first call / steady (fastest of 3 repeats)")
    worst = first_worst = 0.0
    for label, first, steady in bench_hostile():
        worst, first_worst = max(worst, steady), max(first_worst, first)
        print(f"  {label:<32} {first:8.2f} ms / {steady:6.2f} ms")

    print("\ntargets")
    met = print_targets((
        ("100% agreement with math-verify on every fixture and synthetic answer",
         not disagreements and not undecided and not mislabelled,
         f"{len(disagreements)} disagreements, {undecided} fixture answers math-verify cannot parse, "
         f"{len(mislabelled)} fixture labels unlike math-verify"),
        (f"speed >= {TARGET_SPEEDUP:.0f}x plain math-verify on the fast-path forms", speedup >= TARGET_SPEEDUP,
         f"{speedup:,.1f}x"),
        (f"slowest hostile call < {TARGET_WORST_MS:.0f} ms (steady)", worst < TARGET_WORST_MS,
         f"{worst:.2f} ms (first calls: {first_worst:.2f} ms)"),
    ))
    return 0 if met else 1


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
