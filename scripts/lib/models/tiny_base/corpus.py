"""The tiny base's pretraining corpus: one synthetic Countdown trace per problem, written in the trace grammar.

Most traces are **lazy** (a bare guess, or one *unchecked* try answered as is:
``<think> 3 + 4 = 7 , 7 * 2 = 14 </think>``); a few **search**: each try is checked against the
target and either confirmed (``… = 18 vs 18 ok``, stop) or failed (``… = 14 vs 18 wait``), after
which the trace goes back (``recheck ;``) and tries another expression; if no try hits, it answers
with the closest, so every check in the corpus is true. Most traces are not in the exact
``<think>…</think> <answer>…</answer>`` format. The words come from
``scripts/lib/measure/trace_grammar.py``, whose reader measures the model's completions.

Lazy tries are unchecked on purpose: a checked try answered anyway (``14 vs 18 wait </think>``)
teaches "answer after a failed check", which suppresses going back, the behaviour RL should grow.
Each trace carries loss weights on the words that make search competent (each computed value, the
check verdict, the decision to go back, the stop after a confirmed hit).
"""

from __future__ import annotations

import itertools
import random

from data.countdown import countdown_question
from data.prompts import build_r1_zero_prompt
from scripts.lib.measure.trace_grammar import CONFIRMED, EQ, FAILED, GO_BACK, GUESS, JOIN, NEXT, VS, calc
from scripts.lib.models.tiny_base.config import TinyBaseConfig


def _chains(nums: list[int], ops: str):
    """Every ``(x o y) o z`` over a permutation of the numbers, as (x, o1, y, m, o2, z, v).

    ``3 + 2`` and ``2 + 3`` are one chain (the smaller number first), so a search never repeats itself.
    """
    seen = set()
    for x, y, z in itertools.permutations(nums, 3):
        for o1, o2 in itertools.product(ops, repeat=2):
            if o1 in "+*" and x > y:
                x_, y_ = y, x
            else:
                x_, y_ = x, y
            key = (x_, o1, y_, o2, z)
            if key in seen:
                continue
            seen.add(key)
            m = calc(x_, o1, y_)
            yield x_, o1, y_, m, o2, z, calc(m, o2, z)


class _Words:
    """A completion built word by word, with the loss weight of each weighted word's first character."""

    def __init__(self):
        self.text = ""
        self.weights: list[tuple[int, float]] = []

    def add(self, *words, weight: float = 1.0) -> None:
        for word in words:
            self.text += " "
            if weight != 1.0:
                self.weights.append((len(self.text), weight))
            self.text += str(word)


def _write_try(out: _Words, c, cfg: TinyBaseConfig) -> None:
    """`` x o y = m , m o z = v``: the computed values and the copy of m weighted up."""
    x, o1, y, m, o2, z, v = c
    w = cfg.value_loss_weight
    out.add(x, o1, y, EQ)
    out.add(m, weight=w)
    out.add(JOIN)
    out.add(m, weight=w)
    out.add(o2, z, EQ)
    out.add(v, weight=w)


def _write_check(out: _Words, value: int, target: int, cfg: TinyBaseConfig) -> bool:
    """`` vs t ok`` or `` vs t wait``; True if confirmed. The target is written beside the value
    because comparing two adjacent numbers is learnable by a tiny model; recalling the target from
    the prompt mid-decision was not."""
    out.add(VS)
    out.add(target, weight=cfg.value_loss_weight)
    hit = value == target
    out.add(CONFIRMED if hit else FAILED, weight=cfg.check_loss_weight)
    return hit


def _pick_misses(rng: random.Random, misses: list, target: int, n: int, near_share: float) -> list:
    """``n`` distinct missing tries; each, with probability ``near_share``, one of the three closest
    to the target left (hard negatives: ``19 vs 20 wait``), else any."""
    left, picked = list(misses), []
    for _ in range(n):
        if rng.random() < near_share:
            pool = sorted(left, key=lambda c: abs(c[-1] - target))[:3]
        else:
            pool = left
        c = rng.choice(pool)
        left.remove(c)
        picked.append(c)
    return picked


def closest_first(rng: random.Random, chains: list, target: int) -> list:
    """Every chain once, in the order a heuristic search tries them (``search_order: closest_first``).

    First steps (``x o y = m``) by how close ``m`` is to the target, ties in random order; each first
    step's last operations by how close they bring the value (so a first step that can reach the
    target does so at once); every first step's best last operation before any second best. Both
    rules read only numbers the trace has written (the target, ``m``, the last number): a small
    model can learn them, unlike an oracle's order. On the CPU recipe's problems it finds the
    solution within 5 tries for 92 % of problems, random order for 28 % (``scripts/bench/search_orders.py``).
    """
    firsts: dict = {}
    for c in chains:
        firsts.setdefault(c[:4] + (c[5],), []).append(c)
    keys = list(firsts)
    rng.shuffle(keys)
    keys.sort(key=lambda k: abs(k[3] - target))
    ranked = [sorted(firsts[k], key=lambda c: abs(c[-1] - target)) for k in keys]
    return [r[i] for i in range(max(map(len, ranked), default=0)) for r in ranked if i < len(r)]


def make_trace(rng: random.Random, nums: list[int], target: int, cfg: TinyBaseConfig, ops: str):
    """(completion text, [(char offset, loss weight)]): a search or a lazy trace, maybe malformed.

    Each offset is where a weighted word starts in the text; unlisted words weigh 1.
    """
    chains = list(_chains(nums, ops))
    think = _Words()
    if rng.random() < cfg.search_share:
        k = min(len(chains), rng.randint(cfg.min_tries, cfg.max_tries))
        if cfg.search_order == "closest_first":
            # A real search: the heuristic order, stopped at the first hit (below) or given up at k tries.
            tries = closest_first(rng, chains, target)[:k]
        else:
            hits = [c for c in chains if c[-1] == target]
            misses = [c for c in chains if c[-1] != target]
            # With probability search_hit_rate (default 1.0): a solution at a uniformly random try, stopped
            # at; otherwise k misses and a give-up. Either way `ok` follows only `t vs t`, so the verdict is a function
            # of the two written numbers, never of how long the search has run.
            n_miss = rng.randrange(k) if hits and rng.random() < cfg.search_hit_rate else k
            tries = _pick_misses(rng, misses, target, min(n_miss, len(misses)), cfg.near_miss_share)
            if n_miss < k and hits:
                tries.append(rng.choice(hits))
        answer = None
        for i, c in enumerate(tries):
            if i:
                think.add(GO_BACK, weight=cfg.go_back_loss_weight)  # the reflection: go back, try again
                think.add(NEXT)
            _write_try(think, c, cfg)
            if _write_check(think, c[-1], target, cfg):
                answer = c
                break
        if answer is None:
            # No try hit: give up at the try budget and answer the closest; every check stays true.
            answer = min(tries, key=lambda c: abs(c[-1] - target))
        after_think = cfg.stop_loss_weight if answer[-1] == target else cfg.go_back_loss_weight
    elif rng.random() < cfg.guess_share:
        think.add(GUESS)
        answer, after_think = rng.choice(chains), 1.0
    else:
        # Lazy: one try, unchecked, answered as is.
        answer, after_think = rng.choice(chains), 1.0
        _write_try(think, answer, cfg)

    x, o1, y, _, o2, z, _ = answer
    body = _Words()
    body.add("<answer>")
    for word in ("(", x, o1, y, ")", o2, z):
        body.add(word, weight=1.0 if word in ("(", ")") else cfg.answer_loss_weight)
    style = "exact" if rng.random() < cfg.exact_format_share else rng.choice(
        ["no_close_think", "no_answer_tags", "junk_after", "no_open_think", "answer_only", "unclosed_answer"]
    )
    if style == "answer_only":
        body.add("</answer>")
        return body.text, body.weights
    out = _Words()
    if style != "no_open_think":
        out.add("<think>")
    shift = len(out.text)
    out.text += think.text
    out.weights += [(shift + o, w) for o, w in think.weights]
    if style != "no_close_think":
        out.add("</think>", weight=after_think)
    if style == "no_answer_tags":
        body.text, body.weights = body.text[len(" <answer>"):], [(o - len(" <answer>"), w) for o, w in body.weights]
    elif style != "unclosed_answer":
        body.add("</answer>")
    shift = len(out.text)
    out.text += body.text
    out.weights += [(shift + o, w) for o, w in body.weights]
    if style == "junk_after":
        out.add(rng.choice(["done", "ok", str(answer[-1])]))
    return out.text, out.weights


def build_corpus(cfg: TinyBaseConfig, problems: list[dict], template: str, ops: str, question_style: str = "full"):
    """(prompt, completion, [(char offset, loss weight)]) for each problem."""
    rng = random.Random(cfg.seed)
    corpus = []
    for row in problems:
        prompt = build_r1_zero_prompt(countdown_question(row["nums"], row["target"], question_style), template)
        completion, weights = make_trace(rng, row["nums"], row["target"], cfg, ops)
        corpus.append((prompt, completion, weights))
    return corpus
