"""``sample_completions``: one completion per prompt from a transformers model, sampled like TRL samples.

The lowest layer of generation (it needs only ``data.prompts``), so the tiny base's build can audit
its own samples without importing the model loaders that build it.
"""

from __future__ import annotations

from data.prompts import render_prompt


def sample_completions(model, tokenizer, prompts, max_new_tokens: int, temperature: float = 1.0,
                       seed: int = 0, batch_size: int = 128, greedy: bool = False, progress: bool = False,
                       top_k: int = 0, top_p: float = 1.0, desc: str = "sampling",
                       chat_template_kwargs: dict | None = None):
    """(texts, token lengths): one completion per prompt, sampled like TRL samples.

    ``top_k=0, top_p=1.0`` is TRL's default (no truncation); transformers' ``generate`` would
    otherwise apply its own ``top_k=50``.
    """
    import torch
    from tqdm.auto import tqdm

    texts, lengths = [], []
    was_training = model.training
    model.eval()
    torch.manual_seed(seed)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        for start in tqdm(range(0, len(prompts), batch_size), disable=not progress, desc=desc):
            batch = [render_prompt(p, tokenizer, chat_template_kwargs) for p in prompts[start:start + batch_size]]
            enc = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            options = {"do_sample": False} if greedy else {"do_sample": True, "temperature": temperature,
                                                            "top_k": top_k, "top_p": top_p}
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
