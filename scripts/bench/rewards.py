r"""`make bench-rewards`: are the rewards right, fast, and bounded on hostile input?

    python -m scripts.bench.rewards                                    # ../shared/data/gsm8k/test.jsonl
    python -m scripts.bench.rewards path/to/gsm8k/test.jsonl --limit 200

1. Every GSM8K gold answer in the file is rendered as completions in several answer formats (plain,
   with thousands separators, ``$``, ``$1,234.00``, ``\boxed{}``, wrong numbers, and a sentence only
   math-verify reads), each with the row's worked solution as the ``<think>`` block. For each
   format it times, in the same run, ``gsm8k_accuracy_reward``, ``trl.rewards.accuracy_reward``
   and plain math-verify (``verify(parse(gold), parse(answer))`` on the ``<answer>`` text), and
   measures the agreement with math-verify. "math-verify decides" means it parses both the gold
   and the answer text (non-empty ``parse``); agreement is the share of those items where our reward
   is 1.0 exactly when ``verify`` is True.
2. Every reward is called on hostile completions (10^6-character strings, unicode, code,
   ``9**9**9**9``, 10,000-deep nesting, ``1/0``, …) one at a time, and the slowest call is reported.

Targets (issue 4): >= 50x the items/s of ``trl.rewards.accuracy_reward`` on the number formats,
100 % agreement where math-verify decides, worst hostile call < 50 ms. A missed target is printed
as MISSED (exit code 1). Times are this process's CPU time unless ``--clock wall``: on a machine
shared with other jobs, wall time mostly measures them.
"""

from __future__ import annotations

import argparse
import logging
import sys

from scripts.bench.common import CLOCKS, items_per_s, print_targets, use_clock
from scripts.bench.rewards_cases import (
    FORMATS,
    SLOW_FORMATS,
    bench_format,
    bench_hostile,
    completion,
    hostile_completions,
    load_golds,
)
from scripts.lib.recipe.cli import ArgumentParser, run_cli

DEFAULT_GSM8K = "../shared/data/gsm8k/test.jsonl"
TARGET_SPEEDUP = 50.0
TARGET_WORST_MS = 50.0


def _ratio(a: float, b: float) -> str:
    return f"{a / b:,.0f}x" if b else "-"


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gsm8k", nargs="?", default=DEFAULT_GSM8K, help=f"GSM8K jsonl (default {DEFAULT_GSM8K})")
    parser.add_argument("--limit", type=int, default=None, help="Use only the first N answers (quick look).")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="cpu: this process's CPU time (default, robust to a busy machine); wall: elapsed time.")
    parser.add_argument("--max-ids", type=int, default=8192,
                        help="Token ids per hostile completion for the length rewards (a recipe's max_completion_length).")
    args = parser.parse_args(argv)
    # math-verify logs every timeout and unparsable string at WARNING; the bench reports its own numbers.
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)

    use_clock(args.clock)
    golds = load_golds(args.gsm8k, args.limit)
    print(f"GSM8K: {len(golds)} gold answers from {args.gsm8k}, {len(FORMATS) + len(SLOW_FORMATS)} formats, "
          f"timed in {args.clock} time")
    from math_verify import parse, verify

    # One-time imports and caches, for all three, not timed.
    from trl.rewards import accuracy_reward

    from rewards.accuracy_rewards import gsm8k_accuracy_reward

    warm = completion("x", "\\boxed{\\frac{36}{2}}")
    verify(parse("18"), parse("$\\boxed{\\frac{36}{2}}$"))
    accuracy_reward([[{"role": "assistant", "content": warm}]], ["18"])
    gsm8k_accuracy_reward([warm, completion("x", "1,018"), completion("x", "18 apples")], solution=["18"] * 3)

    header = (f"{'format':<13} {'items':>6} {'ours/s':>10} {'TRL/s':>8} {'mv/s':>8} {'vs TRL':>7} {'vs mv':>6} "
              f"{'mv decides':>10} {'agree':>7} {'ours right':>10} {'TRL right':>9}")
    print("\n" + header + "\n" + "-" * len(header))
    totals = {"n": 0, "ours_s": 0.0, "trl_s": 0.0, "mv_s": 0.0, "decided": 0, "agree": 0}
    all_disagreements = []
    for name, (render, right) in {**FORMATS, **SLOW_FORMATS}.items():
        r = bench_format(golds, render, right)
        all_disagreements += r["disagreements"]
        ours, trl, mv = (items_per_s(r["n"], r[k]) for k in ("ours_s", "trl_s", "mv_s"))
        print(f"{name:<13} {r['n']:>6} {ours:>10,.0f} {trl:>8,.0f} {mv:>8,.0f} {_ratio(ours, trl):>7} "
              f"{_ratio(ours, mv):>6} {r['decided']:>10} {r['agree'] / max(r['decided'], 1):>7.2%} "
              f"{r['ours_right'] / r['n']:>10.1%} {r['trl_right'] / r['n']:>9.1%}")
        if name in FORMATS:
            for key in totals:
                totals[key] += r[key]
    ours, trl, mv = (items_per_s(totals["n"], totals[k]) for k in ("ours_s", "trl_s", "mv_s"))
    speedup = ours / trl
    agreement = totals["agree"] / max(totals["decided"], 1)
    print(f"{'number forms':<13} {totals['n']:>6} {ours:>10,.0f} {trl:>8,.0f} {mv:>8,.0f} {_ratio(ours, trl):>7} "
          f"{_ratio(ours, mv):>6} {totals['decided']:>10} {agreement:>7.2%}")
    print("\n'ours right' / 'TRL right': share scored as intended (1 for the right number, 0 for a wrong one);"
          "\nTRL's accuracy_reward reads only a \\boxed{} (or LaTeX) answer anywhere in the completion.")
    for text, ours_value, verdict in all_disagreements[:5]:
        print(f"disagreement: ours={ours_value} math-verify={verdict}: {text[-80:]!r}")

    print(f"\nhostile input ({len(hostile_completions())} completions): slowest call per reward, first call / "
          f"steady (fastest of 3 repeats), length rewards get <= {args.max_ids} token ids")
    worst_overall = first_overall = 0.0
    for name, (first, first_label), (worst, label) in bench_hostile(args.max_ids):
        worst_overall, first_overall = max(worst_overall, worst), max(first_overall, first)
        print(f"  {name:<31} {first:8.2f} ms ({first_label})  /  {worst:6.2f} ms ({label})")

    print("\ntargets")
    met = print_targets((
        (f"speed >= {TARGET_SPEEDUP:.0f}x trl.rewards.accuracy_reward (number forms)", speedup >= TARGET_SPEEDUP,
         f"{speedup:,.0f}x"),
        ("100% agreement where math-verify decides (all formats)", not all_disagreements,
         f"{len(all_disagreements)} disagreements"),
        (f"worst hostile call < {TARGET_WORST_MS:.0f} ms (steady)", worst_overall < TARGET_WORST_MS,
         f"{worst_overall:.1f} ms (first calls, with one-time sympy costs: {first_overall:.1f} ms)"),
    ))
    return 0 if met else 1


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
