"""Score a model's completions on held-out prompts with the training rewards.

Shared by the before/after table of ``scripts/train.py``, ``scripts/evaluate.py`` and the live
tracker, so every number the kit prints is computed one way.
"""

from __future__ import annotations

import statistics

from rewards import ACCURACY_REWARD_FOR_TASK, format_reward, get_reward
from rewards._text import completion_text
from rewards.reflection import countdown_check_claims, has_self_check


def render_prompt(prompt, tokenizer) -> str:
    """A prompt as the model sees it: chat messages go through the tokenizer's chat template."""
    if isinstance(prompt, str):
        return prompt
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)


def sample_completions(model, tokenizer, prompts, max_new_tokens: int, temperature: float = 1.0,
                       seed: int = 0, batch_size: int = 128, greedy: bool = False, progress: bool = False):
    """(texts, token lengths): one completion per prompt, sampled like TRL samples (no top-k/top-p)."""
    import torch
    from tqdm.auto import tqdm

    texts, lengths = [], []
    was_training = model.training
    model.eval()
    torch.manual_seed(seed)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        for start in tqdm(range(0, len(prompts), batch_size), disable=not progress, desc="sampling"):
            batch = [render_prompt(p, tokenizer) for p in prompts[start:start + batch_size]]
            enc = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            options = {"do_sample": False} if greedy else {"do_sample": True, "temperature": temperature,
                                                            "top_k": 0, "top_p": 1.0}
            with torch.no_grad():
                out = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                     eos_token_id=tokenizer.eos_token_id, **options)
            new = out[:, enc["input_ids"].shape[1]:]
            for row in new:
                ids = row.tolist()
                n = ids.index(tokenizer.eos_token_id) + 1 if tokenizer.eos_token_id in ids else len(ids)
                lengths.append(n)
                texts.append(tokenizer.decode(ids[:n], skip_special_tokens=True))
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return texts, lengths


def score_completions(rows, completions, task: str, lengths=None, reflection_phrases=None,
                      reward_settings: dict | None = None) -> dict:
    """Format rate, accuracy, mean length, self-check share (and honest-check share for Countdown)."""
    columns = {key: [row.get(key) for row in rows] for key in ("solution", "nums", "target")}
    prompts = [row["prompt"] for row in rows]
    accuracy_fn = get_reward(ACCURACY_REWARD_FOR_TASK[task], **(reward_settings or {}))
    formats = format_reward(completions, prompts=prompts)
    correct = accuracy_fn(completions, prompts=prompts, **columns)
    texts = [completion_text(c) for c in completions]
    checks = [has_self_check(t, reflection_phrases) for t in texts]
    scored = [c for c in correct if c is not None]
    result = {
        "n": len(rows),
        "format": _mean(formats),
        "accuracy": _mean(scored),
        "self_check": _mean(checks),
        "mean_length": _mean(lengths) if lengths else _mean([len(t) for t in texts]),
    }
    if task == "countdown":
        true = total = 0
        for text, row in zip(texts, rows):
            t, n = countdown_check_claims(text, row["target"])
            true, total = true + t, total + n
        result["honest_checks"] = true / total if total else float("nan")
    result["per_example"] = [
        {"correct": c, "format": f, "self_check": s} for c, f, s in zip(correct, formats, checks)
    ]
    return result


def _mean(values) -> float:
    values = [float(v) for v in values]
    return statistics.fmean(values) if values else float("nan")


def before_after_table(before: dict, after: dict) -> str:
    """A markdown table of the held-out numbers before and after training."""
    keys = [("format", "format rate"), ("accuracy", "accuracy"), ("self_check", "self-check share"),
            ("honest_checks", "honest checks"), ("mean_length", "mean length (tokens)")]
    lines = ["| held-out (n=%d) | before | after |" % before["n"], "|---|---|---|"]
    for key, label in keys:
        if key in before:
            lines.append(f"| {label} | {before[key]:.3f} | {after[key]:.3f} |")
    return "\n".join(lines)
