"""`make bench-search`: how often does a search order find a Countdown solution within its try budget?

Corpus measurements, no model: the tiny base can only learn the search its corpus writer shows it,
and RL only amplifies a search that finds. For each order, the share of the recipe's problems whose
first true solution comes within B tries, and, for the tiny base recipe's own writer, its search
traces (solved share, tries, and P(ok | try i), which shows whether `ok` is a function of the
numbers or of how long the search has run):

    python -m scripts.bench.search_orders                                  # the CPU recipe's problems
    python -m scripts.bench.search_orders --base-recipe recipes/tiny_base/countdown_closest_first.yaml

Orders: ``random`` (distinct tries in random order: what a model writes when its corpus's tries are
random, as the shipped writer's misses are), ``random first step, closest last op``, and
``closest_first`` (the writer's heuristic order, ``search_order: closest_first``: first steps by how
close their result is to the target, each with its closest last operation first; Stream of Search,
Gandhi et al. 2024, pretrains on heuristic solvers' search streams). Target: >= 0.90 within a budget
the completion cap holds (a try is 16 tokens).
"""

from __future__ import annotations

import argparse
import collections
import random
import sys

from data.countdown import countdown_splits
from scripts.bench.common import print_targets
from scripts.lib.measure.trace_grammar import CONFIRMED, parse_tries
from scripts.lib.models.tiny_base.config import read_tiny_base_recipe
from scripts.lib.models.tiny_base.corpus import _chains, build_corpus, closest_first
from scripts.lib.models.tiny_base.task import recipe_tiny_base_task
from scripts.lib.recipe.cli import ArgumentParser, run_cli


def random_order(rng, chains, target):
    return rng.sample(chains, len(chains))


def closest_last_op(rng, chains, target):
    """Random first steps, each with its last operations closest-to-target first."""
    firsts: dict = {}
    for c in chains:
        firsts.setdefault(c[:4] + (c[5],), []).append(c)
    keys = rng.sample(list(firsts), len(firsts))
    ranked = [sorted(firsts[k], key=lambda c: abs(c[-1] - target)) for k in keys]
    return [r[i] for i in range(max(map(len, ranked), default=0)) for r in ranked if i < len(r)]


ORDERS = {"random": random_order, "random first step, closest last op": closest_last_op, "closest_first": closest_first}


def first_hits(problems, order, ops: str, seed: int = 0) -> list:
    """Per problem, the 1-based try at which ``order`` first reaches the target (None: never)."""
    rng = random.Random(seed)
    positions = []
    for row in problems:
        tries = order(rng, list(_chains(row["nums"], ops)), row["target"])
        positions.append(next((i + 1 for i, c in enumerate(tries) if c[-1] == row["target"]), None))
    return positions


def solved_within(positions, budget: int) -> float:
    """
    >>> solved_within([1, 3, None, 6], 3)
    0.5
    """
    return sum(p is not None and p <= budget for p in positions) / len(positions)


def writer_searches(cfg, problems, task: dict, ops: str) -> dict:
    """The writer's own search traces: how many end on a true ``ok``, their tries, P(ok | try i)."""
    corpus = build_corpus(cfg, problems, task["template"], ops, task["question_style"])
    searches = []
    for (_, completion, _), row in zip(corpus, problems):
        tries = parse_tries(completion, row["target"], row["nums"])
        if any(t["verdict"] is not None for t in tries):
            searches.append(tries)
    reached, oks = collections.Counter(), collections.Counter()
    for tries in searches:
        for i, t in enumerate(tries, 1):
            reached[i] += 1
            oks[i] += t["verdict"] == CONFIRMED
    return {"searches": len(searches),
            "solved": sum(t[-1]["verdict"] == CONFIRMED and t[-1]["hit"] for t in searches) / max(1, len(searches)),
            "tries_mean": sum(map(len, searches)) / max(1, len(searches)),
            "p_ok_at_try": {i: oks[i] / reached[i] for i in sorted(reached)}, "reached": dict(reached)}


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="recipes/cpu_countdown_tiny.yaml", help="training recipe (its problems)")
    parser.add_argument("--base-recipe", default=None, help="tiny base recipe whose writer to measure "
                        "(default: the training recipe's tiny_base_recipe)")
    parser.add_argument("--problems", type=int, default=4000)
    parser.add_argument("--budgets", type=int, nargs="+", default=[1, 3, 5, 7, 10])
    parser.add_argument("--budget", type=int, default=5, help="the budget the target is checked at")
    args = parser.parse_args(argv)

    task = recipe_tiny_base_task(args.recipe)
    settings = dict(task["countdown"])
    ops = settings.get("ops", "+-*")
    problems, _ = countdown_splits(args.problems, 0, seed=1, **settings)
    print(f"{len(problems)} problems of {args.recipe} ({settings}); share solved within B tries:\n")
    budgets = sorted(set(args.budgets) | {args.budget})
    print("| order | " + " | ".join(f"B={b}" for b in budgets) + " |")
    print("|---|" + "---|" * len(budgets))
    shares = {}
    for name, order in ORDERS.items():
        positions = first_hits(problems, order, ops)
        shares[name] = solved_within(positions, args.budget)
        print(f"| {name} | " + " | ".join(f"{solved_within(positions, b):.3f}" for b in budgets) + " |")

    from scripts.lib.recipe.parsing import load_recipe_yaml

    base_recipe = args.base_recipe or load_recipe_yaml(args.recipe)["tiny_base_recipe"]
    cfg = read_tiny_base_recipe(base_recipe)
    writer = writer_searches(cfg, problems, task, ops)
    print(f"\nthe writer of {base_recipe} (search_order {cfg.search_order}, {cfg.min_tries}-{cfg.max_tries} tries): "
          f"{writer['searches']} search traces, {writer['solved']:.3f} end on a true ok, {writer['tries_mean']:.2f} tries "
          "on average; P(ok | try i): " + ", ".join(f"{i}: {p:.2f} ({writer['reached'][i]})"
                                                    for i, p in writer["p_ok_at_try"].items()))
    met = print_targets([
        (f"closest_first solves >= 0.90 within {args.budget} tries", shares["closest_first"] >= 0.9,
         f"{shares['closest_first']:.3f} (random order {shares['random']:.3f})"),
    ])
    return 0 if met else 1


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
