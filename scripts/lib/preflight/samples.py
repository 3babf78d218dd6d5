"""Preflight's "samples" check (``--samples N``): groups sampled from the starting model, scored
with the recipe's rewards: format rate, accuracy, truncation, and the share of groups whose rewards are
all equal (TRL's ``frac_reward_zero_std``: no learning signal, TRL #3452).
"""

from __future__ import annotations

from scripts.lib.evaluation.scoring import mean, score_completions
from scripts.lib.models.sampling import sample_completions
from scripts.lib.preflight.report import Section
from scripts.lib.preflight.template import as_completion, call_rewards, reward_name

# Report thresholds, not training settings: when a sampled number says the run will likely not learn.
TRUNCATION_WARN = 0.2
ZERO_STD_WARN = 0.5


def group_signal(scores: dict[str, list], weights, num_generations: int) -> float:
    """Share of groups whose weighted total rewards are all equal (zero advantage: no learning signal).

    None counts as NaN and is skipped in the sum, as in TRL.

    >>> group_signal({"r": [1.0, 1.0, 0.0, 1.0]}, None, 2)
    0.5
    """
    names = list(scores)
    weights = list(weights) if weights is not None else [1.0] * len(names)
    n = len(scores[names[0]])
    totals = [sum(w * s[i] for w, s in zip(weights, (scores[k] for k in names)) if s[i] is not None)
              for i in range(n)]
    groups = [totals[i:i + num_generations] for i in range(0, n, num_generations)]
    flat = sum(max(g) - min(g) < 1e-6 for g in groups)
    return flat / len(groups)


def check_samples(model, tokenizer, rows, reward_funcs, task: str, num_generations: int, max_completion_length: int,
                  temperature: float = 1.0, seed: int = 0, reward_weights=None, reward_settings: dict | None = None,
                  top_k: int = 0, top_p: float = 1.0, chat_template_kwargs: dict | None = None,
                  reflection_phrases=None) -> Section:
    """Sample groups from the starting model and say whether GRPO would get a signal from them.

    ``counts["verdict"]``: the reflection audit of these samples (``scripts.lib.measure.reflection.verdict_line``):
    is there reflection, and does it pay, before any RL?"""
    section = Section("samples")
    group_rows = [row for row in rows for _ in range(num_generations)]
    texts, lengths = sample_completions(model, tokenizer, [r["prompt"] for r in group_rows], max_completion_length,
                                        temperature=temperature, seed=seed, top_k=top_k or 0, top_p=top_p,
                                        chat_template_kwargs=chat_template_kwargs)
    completions = [as_completion(t, r["prompt"]) for t, r in zip(texts, group_rows)]
    scores = call_rewards(reward_funcs, group_rows, completions, tokenizer)
    summary = score_completions(group_rows, texts, task, lengths, reflection_phrases, reward_settings)
    truncated = sum(n >= max_completion_length for n in lengths) / len(lengths)
    flat = group_signal(scores, reward_weights, num_generations)
    fmt, acc = summary["format"], summary["accuracy"]
    section.counts = {"format": fmt, "accuracy": acc, "truncated": truncated, "flat_groups": flat,
                      "completions": len(texts), "verdict": summary["verdict"], "texts": texts}
    means = ", ".join(f"{k}={mean(v):.2f}" for k, v in scores.items())
    section.summary = (f"{len(rows)} prompts x {num_generations}: format {fmt:.2f}, accuracy {acc:.2f}, truncated "
                       f"{truncated:.2f}, groups with all-equal rewards {flat:.2f}; reward means {means}")
    names = [reward_name(f) for f in reward_funcs]
    if flat >= 1.0:
        section.warnings.append(
            "every group has all-equal rewards: no learning signal (advantage 0, loss 0); use a shaped reward "
            "(format_shaped_reward), more generations, easier data or a stronger base")
    elif flat > ZERO_STD_WARN:
        section.warnings.append(
            f"{flat:.0%} of groups have all-equal rewards (no learning signal from them): raise num_generations "
            f"(now {num_generations}), use easier data, or add format_shaped_reward")
    if truncated > TRUNCATION_WARN:
        section.warnings.append(
            f"{truncated:.0%} of completions hit max_completion_length {max_completion_length} and lose their "
            "answer: raise max_completion_length (or set mask_truncated_completions: true)")
    if fmt == 0 and "format_reward" in names and "format_shaped_reward" not in names:
        section.warnings.append("no sample is in the strict format: add format_shaped_reward for a gradient, "
                                "or use a template that shows the format")
    if acc == 0:
        section.warnings.append("no sample is correct: GRPO has nothing to amplify; use easier data (fewer numbers, "
                                "smaller targets), more generations, or a stronger base model")
    return section
