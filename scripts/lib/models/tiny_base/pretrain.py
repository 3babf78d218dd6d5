"""Pretraining the tiny base: the corpus as token ids with per-token loss weights, and a plain torch loop."""

from __future__ import annotations

import math
import random

from scripts.lib.models.tiny_base.config import TinyBaseConfig


def encode_corpus(corpus, tokenizer, cfg: TinyBaseConfig):
    """Token ids and per-token loss weights: 0 on the prompt, 1 on the completion, more where the corpus says."""
    examples = []
    # Batch encoding runs in the tokenizer's Rust threads: ~10x faster than one call per trace.
    prompts = tokenizer([p for p, _, _ in corpus], add_special_tokens=False)["input_ids"]
    completions = tokenizer([c for _, c, _ in corpus], add_special_tokens=False, return_offsets_mapping=True)
    for prompt_ids, completion_ids, offsets, (_, _, weighted) in zip(
            prompts, completions["input_ids"], completions["offset_mapping"], corpus):
        ids = prompt_ids + completion_ids + [tokenizer.eos_token_id]
        weights = [0.0] * len(prompt_ids) + [1.0] * (len(completion_ids) + 1)
        token_at = {start: k for k, (start, _) in enumerate(offsets)}
        for offset, weight in weighted:
            if offset in token_at:
                weights[len(prompt_ids) + token_at[offset]] = weight
        if len(ids) <= cfg.max_position_embeddings:
            examples.append((ids, weights))
    return examples


def pretrain(model, examples, cfg: TinyBaseConfig, pad_id: int, progress: bool = True):
    """Plain next-token pretraining, batches bucketed by length. Returns the last smoothed loss."""
    import torch
    from tqdm.auto import tqdm

    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    rng = random.Random(cfg.seed)
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    batches = [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay,
                                  betas=(0.9, 0.95))

    def lr_at(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress_ = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress_)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    # One constant normalizer (the mean batch's loss weight), not each batch's own: batches are
    # bucketed by length, and dividing by a batch's weight would make a token in a batch of short
    # traces (guesses) count ~10x a token in a batch of long ones (searches); the base would then
    # choose "guess" far more often than its corpus does (62 % vs 40 % measured) and search rarely.
    norm = cfg.batch_size * sum(sum(w) for _, w in examples) / max(1, len(examples))
    model.train()
    smoothed = None
    bar = tqdm(range(cfg.steps), desc="pretraining tiny base", disable=not progress, unit="step")
    for step in bar:
        batch = [examples[i] for i in batches[rng.randrange(len(batches))]]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        weights = torch.zeros((len(batch), width))
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (ids, w) in enumerate(batch):
            input_ids[row, :len(ids)] = torch.tensor(ids)
            weights[row, :len(ids)] = torch.tensor(w)
            attention[row, :len(ids)] = 1
        hidden = model.model(input_ids=input_ids, attention_mask=attention).last_hidden_state[:, :-1]
        targets, w = input_ids[:, 1:], weights[:, 1:]
        # The vocabulary projection and softmax only where there is loss (the completion): the
        # prompt is ~40 % of the tokens, and this is a third of the step's time.
        keep = w > 0
        logits = model.lm_head(hidden[keep])
        token_loss = torch.nn.functional.cross_entropy(logits, targets[keep], reduction="none")
        loss = (token_loss * w[keep]).sum() / norm
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        smoothed = loss.item() if smoothed is None else 0.95 * smoothed + 0.05 * loss.item()
        if step % 20 == 0:
            bar.set_postfix(loss=f"{smoothed:.3f}")
    model.eval()
    return smoothed

