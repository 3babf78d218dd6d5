"""``sample_completions``: one completion per prompt from a transformers model, sampled like TRL samples.

The lowest layer of generation (it needs only ``data.prompts``), so the tiny base's build can audit
its own samples without importing the model loaders
(``scripts/lib/models/loading.py``).
"""

from __future__ import annotations

import hashlib

from data.prompts import render_prompt


def completion_seed(seed: int, prompt_index: int, sample_index: int = 0) -> int:
    """The seed of one completion: sample ``sample_index`` of prompt ``prompt_index`` of a list.

    >>> completion_seed(42, 3, 1) == completion_seed(42, 3, 1) != completion_seed(42, 3, 0)
    True
    """
    digest = hashlib.sha256(f"{seed}:{prompt_index}:{sample_index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class _SeededRows:
    """A logits processor that samples each row from its own ``torch.Generator`` (temperature, then
    top-k, then top-p, as transformers' warpers do) and leaves only that token for greedy search to pick.

    With it a completion depends on its own seed, not on which prompts share its batch or its rank.
    """

    def __init__(self, seeds, temperature: float, top_k: int, top_p: float):
        import torch

        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p

    def __call__(self, input_ids, scores):
        import torch

        scores = scores.float() / self.temperature
        if self.top_k > 0:
            kth = torch.topk(scores, min(self.top_k, scores.shape[-1])).values[..., -1:]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        if self.top_p < 1.0:
            ordered, index = torch.sort(scores, descending=False)
            drop = ordered.softmax(-1).cumsum(-1) <= 1 - self.top_p
            drop[..., -1] = False  # keep at least the most likely token
            scores = scores.masked_fill(drop.scatter(1, index, drop), float("-inf"))
        cdf = scores.softmax(-1).cumsum(-1)
        draws = torch.cat([torch.rand(1, generator=g) for g in self.generators]).to(cdf.device)
        chosen = (cdf < (draws * cdf[:, -1])[:, None]).sum(-1).clamp(max=cdf.shape[-1] - 1)
        return torch.full_like(scores, float("-inf")).scatter(1, chosen[:, None], 0.0)


def stop_token_ids(model, tokenizer) -> list[int]:
    """The ids a completion ends at, as TRL's GRPOTrainer takes them: the tokenizer's eos, then the ids of the
    model's ``generation_config.eos_token_id`` (Qwen2.5-Instruct's: ``<|im_end|>`` and ``<|endoftext|>``).

    >>> from types import SimpleNamespace as NS
    >>> stop_token_ids(NS(generation_config=NS(eos_token_id=[7, 2])), NS(eos_token_id=2))
    [7, 2]
    >>> stop_token_ids(NS(generation_config=NS(eos_token_id=5)), NS(eos_token_id=2))
    [2, 5]
    """
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = [] if ids is None else [ids] if isinstance(ids, int) else list(ids)
    return ids if tokenizer.eos_token_id in ids else [tokenizer.eos_token_id, *ids]


def sample_completions(model, tokenizer, prompts, max_new_tokens: int, temperature: float = 1.0,
                       seed: int = 0, batch_size: int = 128, greedy: bool = False, progress: bool = False,
                       top_k: int = 0, top_p: float = 1.0, desc: str = "sampling",
                       chat_template_kwargs: dict | None = None, seeds: list[int] | None = None,
                       synced_gpus: bool = False, repetition_penalty: float = 1.0):
    """(texts, token lengths): one completion per prompt, sampled like TRL samples.

    ``top_k=0, top_p=1.0`` is TRL's default (no truncation); transformers' ``generate`` would
    otherwise apply its own ``top_k=50``. ``seeds`` (one per prompt) samples each completion from
    its own random stream instead of ``seed``'s one stream for all (``completion_seed``).
    ``synced_gpus``: every rank steps ``generate`` together, for parameters sharded across ranks.
    ``repetition_penalty`` is passed every time (TRL's default, 1.0): otherwise ``generate`` takes the model's
    own, and Qwen2.5-Instruct's ``generation_config.json`` sets 1.1, which training never applies.
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import LogitsProcessorList

    texts, lengths = [], []
    stops = stop_token_ids(model, tokenizer)
    was_training = model.training
    model.eval()
    torch.manual_seed(seed)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        for start in tqdm(range(0, len(prompts), batch_size), disable=not progress, desc=desc):
            batch = [render_prompt(p, tokenizer, chat_template_kwargs) for p in prompts[start:start + batch_size]]
            enc = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            if greedy:
                options = {"do_sample": False}
            elif seeds is not None:
                rows = _SeededRows(seeds[start:start + batch_size], temperature, top_k, top_p)
                options = {"do_sample": False, "logits_processor": LogitsProcessorList([rows])}
            else:
                options = {"do_sample": True, "temperature": temperature, "top_k": top_k, "top_p": top_p}
            options["repetition_penalty"] = repetition_penalty
            if synced_gpus:
                options["synced_gpus"] = True
            with torch.no_grad():
                out = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                     eos_token_id=stops, **options)
            new = out[:, enc["input_ids"].shape[1]:]
            for row in new:
                ids = row.tolist()
                n = next((i + 1 for i, token in enumerate(ids) if token in stops), len(ids))
                lengths.append(n)
                texts.append(tokenizer.decode(ids[:n], skip_special_tokens=True))
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return texts, lengths
