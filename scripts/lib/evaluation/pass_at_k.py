"""``make eval``'s metrics: greedy pass@1, sampled pass@k / avg@k / reflection@k, and the table
comparing models.

``evaluate_generations`` is shared by ``scripts/evaluate.py`` (on ``eval_problems``) and the
in-training eval (``before_after.HeldOutEvalCallback``, on training's held-out rows). ``generate``
is a generate function (``scripts/lib/evaluation/generation.py``: ``HFGenerator``, ``VLLMGenerator``)
or anything a test injects.
"""

from __future__ import annotations

import math

from rewards.text import table_cell
from scripts.lib.evaluation.generation import across_ranks
from scripts.lib.evaluation.scoring import REVISION_ROWS, json_safe, mean, score_completions


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` are correct (Chen et al. 2021, "Codex").

    The probability that at least one of ``k`` samples drawn without replacement from the ``n`` is
    correct: ``1 - C(n - c, k) / C(n, k)``. Plain ``c / n`` is its ``k = 1`` case.

    >>> pass_at_k(10, 0, 1), pass_at_k(4, 1, 1), pass_at_k(10, 10, 5)
    (0.0, 0.25, 1.0)
    >>> round(pass_at_k(4, 1, 2), 6)   # 1 - C(3,2)/C(4,2) = 1 - 3/6
    0.5
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def _gold(row: dict) -> dict:
    return {key: row[key] for key in ("solution", "nums", "target") if key in row}


def _summary(scores: dict) -> dict:
    keys = ("format", "mean_length", *(key for key, _ in REVISION_ROWS))
    return {key: scores[key] for key in keys if key in scores}


def evaluate_generations(generate, rows, task: str, num_samples: int = 8, pass_k=(1, 8),
                         reflection_phrases=None, reward_settings: dict | None = None) -> dict:
    """Score one model on ``rows`` (``make eval``'s problems, or training's held-out rows for the in-training
    eval) with the training rewards: metrics and per-problem records.

    Greedy decoding gives ``pass@1``; ``num_samples`` sampled completions per problem give the
    unbiased ``pass@k`` for each ``k`` in ``pass_k`` (0 samples: greedy only). Format rate, mean
    length, self-check share (and for Countdown the share of honest checks) are reported for both.
    Problems whose gold answer cannot be checked (reward ``None``) are left out of pass@k.
    """
    prompts = [row["prompt"] for row in rows]
    generate = across_ranks(generate)  # on several processes: each rank its share
    texts, lengths = generate(prompts, samples_per_prompt=1, greedy=True)
    _check_count(texts, lengths, len(prompts), "greedy")
    scores = score_completions(rows, texts, task, lengths, reflection_phrases, reward_settings)
    greedy = {"pass@1": scores["accuracy"], **_summary(scores)}
    records = [
        {"prompt": row["prompt"], "gold": _gold(row), "completion": text, "correct": _verdict(ex["correct"]),
         "format": ex["format"] == 1.0, "self_check": ex["self_check"], "length": length}
        for row, text, length, ex in zip(rows, texts, lengths, scores["per_example"])
    ]
    metrics = {"n": len(rows), "greedy": greedy}
    if num_samples:
        ks = sorted({k for k in pass_k if k <= num_samples})
        texts, lengths = generate(prompts, samples_per_prompt=num_samples, greedy=False)
        _check_count(texts, lengths, len(prompts) * num_samples, "sampled")
        repeated = [row for row in rows for _ in range(num_samples)]
        scores = score_completions(repeated, texts, task, lengths, reflection_phrases, reward_settings)
        per_k = {k: [] for k in ks}
        for i, record in enumerate(records):
            chunk = slice(i * num_samples, (i + 1) * num_samples)
            examples = scores["per_example"][chunk]
            record["samples"] = [
                {"completion": text, "correct": _verdict(ex["correct"]), "format": ex["format"] == 1.0,
                 "self_check": ex["self_check"], "length": length}
                for text, length, ex in zip(texts[chunk], lengths[chunk], examples)
            ]
            if any(ex["correct"] is None for ex in examples):
                record["n_correct"] = None
                continue
            record["n_correct"] = sum(ex["correct"] == 1.0 for ex in examples)
            for k in ks:
                record[f"pass@{k}"] = pass_at_k(num_samples, record["n_correct"], k)
                per_k[k].append(record[f"pass@{k}"])
        # reflection@k: the share of problems where any of k samples self-checks (same estimator as pass@k)
        checks = [ex["self_check"] for ex in scores["per_example"]]
        reflection = {f"reflection@{k}": mean(pass_at_k(num_samples, sum(checks[i * num_samples:(i + 1) * num_samples]), k)
                                              for i in range(len(records))) for k in ks}
        metrics["sampled"] = {**{f"pass@{k}": mean(v) for k, v in per_k.items()}, **reflection, **_summary(scores)}
        metrics["num_samples"] = num_samples
    # The audit reads the sampled completions when there are some (T>0 shows what RL would sample).
    metrics["reflection"] = json_safe(scores["summary"])
    metrics["verdict"] = scores["verdict"].replace("reflection audit (", f"reflection audit "
                                                    f"({'sampled' if num_samples else 'greedy'}, ", 1)
    return {"metrics": metrics, "records": records}


def _verdict(reward) -> bool | None:
    """A record's ``correct``: None when the gold answer cannot be checked."""
    return None if reward is None else reward == 1.0


def _check_count(texts, lengths, expected: int, what: str) -> None:
    if len(texts) != expected or len(lengths) != expected:
        raise ValueError(f"the generate function returned {len(texts)} {what} completions and {len(lengths)} "
                         f"lengths for {expected} requested")


_ROW_LABELS = [("pass@1", "pass@1"), ("format", "format rate"), ("mean_length", "mean length (tokens)"),
               *REVISION_ROWS]


def comparison_table(results: dict, task: str, sampling: str = "sampled") -> str:
    """A markdown table, one column per model: ``results`` maps a model name to its ``metrics``."""
    names = list(results)
    first = results[names[0]]
    lines = [f"| {task} problems (n={first['n']}) | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]

    def row(label: str, values, digits: int) -> None:
        lines.append(f"| {label} | " + " | ".join(table_cell(v, digits) for v in values) + " |")

    for mode, suffix in (("greedy", "greedy"), ("sampled", sampling)):
        if mode not in first:
            continue
        keys = [key for key in first[mode] if key.startswith(("pass@", "reflection@")) and key != "pass@1"]
        labels = _ROW_LABELS[:1] + [(key, key) for key in keys] + _ROW_LABELS[1:]
        for key, label in labels:
            if key in first[mode]:
                row(f"{label}, {suffix}", [results[name][mode].get(key) for name in names],
                    1 if key == "mean_length" else 3)
    return "\n".join(lines)



def add_avg_at_k(metrics: dict, records: list[dict], num_samples: int) -> None:
    """``avg@k``: the mean accuracy over the k samples of each problem, averaged over problems."""
    scored = [r["n_correct"] / num_samples for r in records if r.get("n_correct") is not None]
    if num_samples and "sampled" in metrics:
        metrics["sampled"] = {f"avg@{num_samples}": sum(scored) / len(scored) if scored else float("nan"),
                              **metrics["sampled"]}


def avg_rows(table: str, results: dict, num_samples: int, sampling: str) -> str:
    """The table with an ``avg@k`` row above its first sampled row."""
    key = f"avg@{num_samples}"
    values = [results[name]["metrics"].get("sampled", {}).get(key) for name in results]
    if not num_samples or all(v is None for v in values):
        return table
    row = f"| {key}, {sampling} | " + " | ".join(table_cell(v) for v in values) + " |"
    lines = table.splitlines()
    at = next((i for i, line in enumerate(lines) if f", {sampling} |" in line), len(lines))
    return "\n".join(lines[:at] + [row] + lines[at:])
