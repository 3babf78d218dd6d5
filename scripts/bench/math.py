r"""`make bench-math`: does math_accuracy_reward agree with plain math-verify, how much faster is it, is it bounded?

    python -m scripts.bench.math                     # tests/fixtures/math_small.jsonl, 400 values per form
    python -m scripts.bench.math --values 100        # quicker

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
import logging
import sys

from rewards.math_rewards import math_accuracy_reward, reference_verdict
from scripts.bench.common import CLOCKS, items_per_s, print_targets, use_clock
from scripts.bench.math_cases import bench_hostile, completion, fast_items, fixture_items, time_both
from scripts.lib.recipe.cli import ArgumentParser, run_cli

DEFAULT_FIXTURE = "tests/fixtures/math_small.jsonl"
TARGET_SPEEDUP = 20.0
TARGET_WORST_MS = 50.0


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("fixture", nargs="?", default=DEFAULT_FIXTURE, help=f"MATH fixture (default {DEFAULT_FIXTURE})")
    parser.add_argument("--values", type=int, default=400, help="Random golds per fast-path form.")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    args = parser.parse_args(argv)
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    use_clock(args.clock)

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
        ours, mv = items_per_s(r["n"], r["ours_s"]), items_per_s(r["n"], r["mv_s"])
        agree = 1 - len(r["disagreements"]) / max(r["decided"], 1)
        print(f"{label:<22} {r['n']:>6} {ours:>10,.0f} {mv:>8,.0f} {ours / mv:>8,.1f}x {r['decided']:>10} {agree:>8.2%}")

    for form, pairs in forms.items():
        r = time_both(pairs)
        row(form, r)
        disagreements += r["disagreements"]
        for key in fast_total:
            fast_total[key] += r[key]
    ours_fast, mv_fast = items_per_s(fast_total["n"], fast_total["ours_s"]), items_per_s(fast_total["n"], fast_total["mv_s"])
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
