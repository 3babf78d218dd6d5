"""Arithmetic: ``What is 7 + 12?``, generated offline, one integer answer checked by rule.

The task for a small real chat model: SmolLM2-135M-Instruct gets GSM8K right ~0 % of the time when
sampled (Countdown was not measured), and short sums some of the time, so GRPO has right answers to amplify
(recipes/smollm2-135m-instruct_arithmetic.yaml, RESULTS.md). Converted rows have GSM8K's shape
(``prompt``, ``solution``, ``question``) and are scored by ``gsm8k_accuracy_reward``.

>>> generate_arithmetic(3, seed=0)
[{'question': 'What is 13 + 14?', 'answer': 27}, {'question': 'What is 9 + 17?', 'answer': 26}, {'question': 'What is 13 + 10?', 'answer': 23}]
>>> generate_arithmetic(1, seed=0, ops="-")
[{'question': 'What is 14 - 13?', 'answer': 1}]
"""

from __future__ import annotations

import random

from data.loading import read_rows
from data.prompts import build_r1_zero_prompt

OPS = "+-*"


def arithmetic_question(a: int, op: str, b: int) -> str:
    return f"What is {a} {op} {b}?"


def generate_arithmetic(n: int, seed: int = 0, max_number: int = 20, ops: str = "+",
                        exclude: set | None = None, distinct: bool = False) -> list[dict]:
    """``n`` problems ``{"question", "answer"}`` with operands in 1..``max_number``, deterministic for a
    seed. Questions in ``exclude`` are skipped, which keeps a held-out split out of training;
    ``distinct`` never repeats a question. A difference is never negative (the larger number first)."""
    if max_number < 1 or not ops or set(ops) - set(OPS):
        raise ValueError(f"bad arithmetic settings: max_number {max_number}, ops {ops!r} (use {OPS})")
    exclude = set(exclude or ())
    rng = random.Random(seed)
    rows: list[dict] = []
    attempts = 0
    while len(rows) < n:
        attempts += 1
        if attempts > 100 * n + 10_000:  # every question excluded: stop instead of looping forever
            raise ValueError(f"arithmetic: could not draw {n} problems with max_number {max_number}, ops {ops!r} "
                             f"({len(exclude)} excluded): raise arithmetic_max_number")
        a, b, op = rng.randint(1, max_number), rng.randint(1, max_number), rng.choice(ops)
        if op == "-" and b > a:
            a, b = b, a
        question = arithmetic_question(a, op, b)
        if question in exclude:
            continue
        if distinct:
            exclude.add(question)
        rows.append({"question": question, "answer": a + b if op == "+" else a - b if op == "-" else a * b})
    return rows


def arithmetic_splits(train_size: int, test_size: int, seed: int = 0, **settings) -> tuple[list[dict], list[dict]]:
    """A seeded held-out set of distinct questions first, then training problems that never repeat one."""
    test = generate_arithmetic(test_size, seed=seed + 10_007, distinct=True, **settings)
    held_out = {row["question"] for row in test}
    return generate_arithmetic(train_size, seed=seed, exclude=held_out, **settings), test


def arithmetic_to_r1_zero(rows, template: str = "r1_zero", system_prompt: str | None = None,
                          on_bad_row: str = "skip", source: str = "arithmetic") -> tuple[list[dict], int]:
    """``{"question", "answer"}`` rows -> ``{"prompt", "solution", "question"}`` rows (GSM8K's shape)."""
    out, skipped = [], 0
    for index, row in enumerate(rows):
        try:
            question, answer = str(row["question"]).strip(), int(row["answer"])
            if not question:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            if on_bad_row == "fail":
                raise ValueError(f"{source}: row {index + 1} needs a 'question' and an integer 'answer'")
            skipped += 1
            continue
        out.append({"prompt": build_r1_zero_prompt(question, template, system_prompt), "solution": str(answer),
                    "question": question})
    return out, skipped


def load_arithmetic(path: str, split: str = "test", **kwargs) -> tuple[list[dict], int]:
    """``{"question", "answer"}`` rows from a local .jsonl file (or a folder with ``{split}.jsonl``)."""
    return arithmetic_to_r1_zero(read_rows(path, split=split), source=path, **kwargs)
