"""`make bench-hostile`: every reward on batches of 64 hostile completions, main thread and worker thread.

    python -m scripts.bench.hostile                 # every registered reward x every hostile kind
    python -m scripts.bench.hostile --batch 16      # quicker look

For each registered reward (rewards/__init__.py) and each hostile kind (the reward benches' tables:
huge numbers, towers of powers, chains of factorials, deep nesting, megabyte strings, invalid UTF-8,
lone surrogates, unbalanced tags), one call scores ``--batch`` copies; the time per completion is that
call's CPU time / batch. It runs once in the main thread and once in a worker thread, where
math-verify's ``signal.alarm`` timeout does not work and only the rewards' own guards bound the time.

Target (issue 26): <= 50 ms per completion, for every reward and kind, in both threads, and every
score a finite number or None. Printed with the ratio worst / target; MISSED exits 1. For scale it
also times plain math-verify (no guard, main thread, its 1 s alarm) on the factorial chain once.
"""

from __future__ import annotations

import argparse
import logging
import sys

from scripts.bench.common import CLOCKS, clock, print_targets, use_clock
from scripts.lib.recipe.cli import ArgumentParser, run_cli
from scripts.bench.hostile_cases import BATCH, hostile_kinds, run_all

TARGET_MS = 50.0
CHAIN = "$9!!!!$"


def _unguarded_chain_ms() -> float:
    from rewards.accuracy_rewards import math_verify_verdict

    started = clock()
    math_verify_verdict("18", CHAIN)  # what gsm8k_accuracy_reward did before the factorial-chain guard
    return (clock() - started) * 1000


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=BATCH, help=f"Completions per call (default {BATCH}).")
    parser.add_argument("--max-ids", type=int, default=192,
                        help="Token ids per completion for the length rewards (the CPU recipe's max_completion_length).")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="cpu: this process's CPU time (default, robust to a busy machine); wall: elapsed time.")
    parser.add_argument("--threads", choices=["both", "main", "worker"], default="both",
                        help="Where to call the rewards (default both).")
    args = parser.parse_args(argv)
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    use_clock(args.clock)
    kinds = hostile_kinds()
    print(f"{len(kinds)} hostile kinds x {args.batch} completions per call, {args.clock} time per completion\n")

    worst: dict[str, list] = {}
    errors = []
    places = [("main thread", False), ("worker thread", True)]
    places = [p for p in places if args.threads == "both" or p[0].startswith(args.threads)]
    for where, in_thread in places:
        for name, label, _, ms, error in run_all(args.batch, args.max_ids, in_thread):
            key = (name, where)
            if key not in worst or ms > worst[key][0]:
                worst[key] = [ms, label]
            if error:
                errors.append(f"{name} / {label} / {where}: {error}")

    print(f"{'reward':32} {'where':14} {'worst ms/completion':>20}  slowest kind")
    for (name, where), (ms, label) in sorted(worst.items()):
        print(f"{name:32} {where:14} {ms:20.3f}  {label}")
    overall = max(ms for ms, _ in worst.values())
    print(f"\nplain math-verify on <answer>{CHAIN}</answer>, no guard, main thread: {_unguarded_chain_ms():.0f} ms "
          "(its 1 s alarm; in a worker thread it has none)")
    for line in errors:
        print(f"  {line}")
    met = print_targets([
        (f"worst ms per completion <= {TARGET_MS:.0f} (main and worker thread)", overall <= TARGET_MS,
         f"{overall:.3f} ms = {overall / TARGET_MS:.3f} of the target"),
        ("every score a finite number or None, no reward raised or hung", not errors, f"{len(errors)} problems"),
    ])
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(run_cli(main))
