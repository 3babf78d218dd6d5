"""Preflight's "data" check: rows dropped at load, gold answers the accuracy reward cannot check or
scores wrong, empty prompts, prompts that do not fit the context with ``max_completion_length`` (TRL
1.16 does not truncate prompts), held-out prompts that are also training prompts.
"""

from __future__ import annotations

import json

from data.prompts import render_prompt
from rewards.text import asks_for_boxed
from scripts.lib.preflight.report import Section
from scripts.lib.preflight.template import GOLD_ANSWERS, as_completion, probe_texts, call_rewards, reward_name


def prompt_key(prompt) -> str:
    return prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True)


def prompt_token_lengths(prompts, tokenizer, chat_template_kwargs: dict | None = None) -> list[int]:
    """Prompt lengths in tokens as TRL counts them (plain text gets the tokenizer's special tokens)."""
    if not prompts:
        return []
    if isinstance(prompts[0], str):
        return [len(ids) for ids in tokenizer(list(prompts))["input_ids"]]
    texts = [render_prompt(p, tokenizer, chat_template_kwargs) for p in prompts]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def check_dataset(train_rows, holdout_rows, skipped: int, task: str, accuracy_reward, tokenizer,
                  max_completion_length: int, context_limit: int | None, empty_prompt=None,
                  chat_template_kwargs: dict | None = None) -> Section:
    """Dead rows: gold the accuracy reward cannot check, empty prompts, prompts that do not fit."""
    section = Section("data")
    rows = list(train_rows) + list(holdout_rows)
    checkable, golds = [], []
    for row in rows:
        right, _ = GOLD_ANSWERS[task](row, solve=False)
        if right is not None:
            checkable.append(row)
            golds.append(as_completion(probe_texts("none", right, right, asks_for_boxed(row["prompt"]))["correct"],
                                        row["prompt"]))
    scores = call_rewards([accuracy_reward], checkable, golds)[reward_name(accuracy_reward)] if checkable else []
    unparsable = sum(s is None for s in scores)
    scored_wrong = sum(s is not None and s <= 0 for s in scores)
    empty = sum(r["prompt"] == empty_prompt or not _prompt_text(r["prompt"]).strip() for r in rows)
    lengths = prompt_token_lengths([r["prompt"] for r in rows], tokenizer, chat_template_kwargs)
    longest = max(lengths, default=0)
    over = sum(n + max_completion_length > context_limit for n in lengths) if context_limit else 0
    train_keys = {prompt_key(r["prompt"]) for r in train_rows}
    in_train = sum(prompt_key(r["prompt"]) in train_keys for r in holdout_rows)
    section.counts = {"train_rows": len(train_rows), "holdout_rows": len(holdout_rows), "skipped_at_load": skipped,
                      "unparsable_gold": unparsable, "gold_scored_wrong": scored_wrong,
                      "no_reference": len(rows) - len(checkable), "empty_prompts": empty, "over_context": over,
                      "longest_prompt_tokens": longest, "holdout_in_train": in_train}

    name = reward_name(accuracy_reward)
    fit = (f"longest prompt {longest} + {max_completion_length} completion tokens"
           + (f" vs {context_limit} positions" if context_limit else ""))
    section.summary = (f"{len(train_rows)} train / {len(holdout_rows)} held-out; {skipped} dropped at load, "
                       f"{unparsable} unparsable gold, {empty} empty prompts, {over} over context ({fit}), "
                       f"{in_train} held-out in train")
    if checkable and unparsable == len(checkable):
        section.failures.append(f"{name} cannot check any gold answer (None for all {unparsable} rows): accuracy can "
                                "never fire; check the dataset's answer column")
    elif unparsable:
        section.warnings.append(f"{unparsable} rows have a gold answer {name} cannot check (scored None: only the "
                                "format reward trains on them); clean them or set on_bad_row: fail")
    if scored_wrong:
        section.warnings.append(f"{scored_wrong} rows' own gold answer is scored wrong by {name}: the gold and the "
                                "reward disagree on the answer's form")
    if empty:
        section.warnings.append(f"{empty} prompts have an empty question")
    if over:
        section.warnings.append(
            f"{over} prompts do not fit the model's {context_limit} positions with max_completion_length "
            f"{max_completion_length} (TRL does not truncate prompts): lower max_completion_length to "
            f"{max(context_limit - longest, 0)} or drop prompts over {context_limit - max_completion_length} tokens")
    if in_train:
        section.warnings.append(f"{in_train} held-out prompts are also training prompts: the before/after numbers "
                                "would overstate generalisation")
    return section


def _prompt_text(prompt) -> str:
    if isinstance(prompt, str):
        return prompt
    return " ".join(str(m.get("content", "")) for m in prompt if m.get("role") == "user")


def context_limit(model_config, training_args) -> int | None:
    limits = [getattr(model_config, "max_position_embeddings", None)]
    if training_args.use_vllm:
        limits.append(training_args.vllm_max_model_length)
    limits = [n for n in limits if n]
    return min(limits) if limits else None
