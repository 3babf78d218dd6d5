"""Countdown: reach a target with each given number used once and + - * /.

Problems are generated from a random expression over the numbers, so every one is solvable; the
expression is kept as ``solution``. The hub dataset ``Jiayi-Pan/Countdown-Tasks-3to4`` (TinyZero)
has the same ``{"target", "nums"}`` shape and is read by ``load_countdown``.

>>> rows = generate_countdown(2, seed=0, n_numbers=3)
>>> sorted(rows[0])
['nums', 'solution', 'target']
>>> countdown_question([3, 2, 3], 18)
'Using the numbers [3, 2, 3], create an equation that equals 18. Use + - * / and each number exactly once.'
"""

from __future__ import annotations

import random

from data.loading import read_rows
from data.prompts import build_r1_zero_prompt

OPS = "+-*/"


def countdown_question(nums, target, style: str = "full") -> str:
    """The problem in words. ``full`` is TinyZero's phrasing for real models; ``terse`` is for the
    tiny CPU model, where every prompt token costs pretraining and GRPO compute.

    >>> countdown_question([3, 2, 3], 18, "terse")
    'numbers 3 2 3 target 18'
    """
    if style == "terse":
        return f"numbers {' '.join(str(n) for n in nums)} target {target}"
    listed = ", ".join(str(n) for n in nums)
    return (f"Using the numbers [{listed}], create an equation that equals {target}. "
            "Use + - * / and each number exactly once.")


def _render(node, top: bool = True) -> str:
    if not isinstance(node, tuple):
        return str(node)
    left, op, right = node
    text = f"{_render(left, False)} {op} {_render(right, False)}"
    return text if top else f"({text})"


def _random_expression(rng: random.Random, nums: list[int], ops: str, chain: bool):
    """A random full expression over ``nums`` (each once): (tree, numerator, denominator) or None.

    ``chain`` builds ``((a o b) o c) o d``; otherwise any binary tree shape. A tree is a number or
    ``(left, op, right)``; ``_render`` writes it out, only for the ~1 in 10 problems that are kept.
    Values are exact fractions kept as an unreduced (p, q > 0) pair of ints, several times cheaper
    than ``Fraction`` objects (the generator tries ~10 expressions per problem it keeps).
    """
    # rng._randbelow is what randint/choice/sample draw with; calling it directly skips their
    # argument checks (a third of the time) and draws exactly the same numbers, so a seed still
    # gives the same problems.
    below = rng._randbelow
    items = [(n, n, 1) for n in nums]
    rng.shuffle(items)
    n_ops = len(ops)
    k = len(items)
    while k > 1:
        if chain:
            i, j = 0, 1
        elif k <= 21:  # rng.sample(range(k), 2), drawn as random.sample draws it for small k
            i = below(k)
            j = below(k - 1)
            if j == i:
                j = k - 1
            if j < i:
                i, j = j, i
        else:
            i, j = sorted(rng.sample(range(k), 2))
        left, right = items[i], items[j]
        if rng.random() < 0.5 and not chain:
            left, right = right, left
        op = ops[below(n_ops)]
        ta, pa, qa = left
        tb, pb, qb = right
        if op == "+":
            p, q = pa * qb + pb * qa, qa * qb
        elif op == "-":
            p, q = pa * qb - pb * qa, qa * qb
        elif op == "*":
            p, q = pa * pb, qa * qb
        elif pb == 0:
            return None
        elif pb > 0:
            p, q = pa * qb, qa * pb
        else:
            p, q = -pa * qb, -qa * pb
        del items[j]
        del items[i]
        items.insert(0 if chain else i, ((ta, op, tb), p, q))
        k -= 1
    return items[0]


def generate_countdown(n: int, seed: int = 0, n_numbers: int | tuple[int, int] = (3, 4),
                       number_range: tuple[int, int] = (1, 99), target_range: tuple[int, int] = (1, 100),
                       ops: str = OPS, chain: bool = False, exclude: set | None = None) -> list[dict]:
    """``n`` solvable problems ``{"nums", "target", "solution"}``, deterministic for a seed.

    Targets are integers in ``target_range``; problems whose key (sorted nums, target) is in
    ``exclude`` are skipped, which keeps a held-out split disjoint from training.
    """
    rng = random.Random(seed)
    lo_n, hi_n = (n_numbers, n_numbers) if isinstance(n_numbers, int) else n_numbers
    if not 1 <= lo_n <= hi_n or number_range[0] > number_range[1] or not ops:
        # Checked here because the draws below would loop forever on an empty range.
        raise ValueError(f"bad Countdown settings: n_numbers {n_numbers}, number_range {number_range}, ops {ops!r}")
    exclude = exclude or set()
    below = rng._randbelow
    lo_v, span = number_range[0], number_range[1] - number_range[0] + 1
    lo_t, hi_t = target_range
    rows: list[dict] = []
    attempts = 0
    while len(rows) < n:
        attempts += 1
        if attempts > 200 * n + 10_000:
            raise ValueError("could not generate enough Countdown problems: widen target_range or number_range")
        count = lo_n + below(hi_n - lo_n + 1)  # rng.randint(lo_n, hi_n), see _random_expression
        nums = [lo_v + below(span) for _ in range(count)]
        made = _random_expression(rng, nums, ops, chain)
        if made is None:
            continue
        tree, p, q = made
        if p % q:
            continue
        target = p // q
        if not lo_t <= target <= hi_t:
            continue
        if exclude and countdown_key(nums, target) in exclude:
            continue
        rows.append({"nums": nums, "target": target, "solution": _render(tree)})
    return rows


def countdown_key(nums, target) -> tuple:
    return tuple(sorted(int(n) for n in nums)), int(target)


def countdown_splits(train_size: int, test_size: int, seed: int = 0, **kwargs) -> tuple[list[dict], list[dict]]:
    """A seeded held-out set first, then a training set that never contains a held-out problem."""
    test = generate_countdown(test_size, seed=seed + 10_007, **kwargs)
    held_out = {countdown_key(r["nums"], r["target"]) for r in test}
    train = generate_countdown(train_size, seed=seed, exclude=held_out, **kwargs)
    return train, test


def countdown_to_r1_zero(rows, template: str = "r1_zero", system_prompt: str | None = None,
                         on_bad_row: str = "skip", source: str = "countdown",
                         question_style: str = "full") -> tuple[list[dict], int]:
    """Turn ``{"nums", "target"}`` rows into ``{"prompt", "nums", "target"}`` rows."""
    out, skipped = [], 0
    for index, row in enumerate(rows):
        try:
            nums = [int(n) for n in row["nums"]]
            target = int(row["target"])
            if not nums:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            if on_bad_row == "fail":
                raise ValueError(f"{source}: row {index + 1} needs integer 'target' and a list of integer 'nums'")
            skipped += 1
            continue
        item = {
            "prompt": build_r1_zero_prompt(countdown_question(nums, target, question_style), template, system_prompt),
            "nums": nums,
            "target": target,
        }
        if "solution" in row:
            item["solution"] = str(row["solution"])
        out.append(item)
    return out, skipped


def load_countdown(path_or_id: str = "Jiayi-Pan/Countdown-Tasks-3to4", split: str = "train",
                   **kwargs) -> tuple[list[dict], int]:
    rows = read_rows(path_or_id, split=split)
    return countdown_to_r1_zero(rows, source=path_or_id, **kwargs)
