"""What a real tokenizer and chat template do to an R1-Zero prompt that a toy one does not.

Found on SmolLM2-135M-Instruct (``make smollm``), the first real model through the kit; each has
bitten R1-Zero users of Qwen, Llama and SmolLM models:

* **Injected text.** A chat template may add words the recipe never wrote: SmolLM2 and Qwen2.5 insert
  their own system prompt ("You are a helpful AI assistant named SmolLM, trained by Hugging Face")
  when the conversation has none; Llama 3.1 adds knowledge/today dates. ``template_additions``
  renders the conversation, removes what the recipe wrote, the template's special tokens and role
  names, and returns what is left.
* **Multi-token tags.** ``<think>`` is 3 BPE tokens in SmolLM2 (``<``, ``think``, ``>``): any logic
  that looks for a tag as one token id (a stop token, a logits processor, a token count) is wrong;
  the rewards read decoded text, which is right. A tag that is a *special* token is worse: TRL
  decodes completions with ``skip_special_tokens=True`` and the rewards never see it.
* **pad = eos.** Common (SmolLM2, Qwen2.5-Instruct: ``<|im_end|>``). Harmless when attention masks
  come from the tokenizer and completions are cut at the first eos (TRL and ``scripts/lib/models/sampling.py``
  do both); wrong wherever a mask is rebuilt as ``ids != pad_token_id``, which would also hide every
  ``<|im_end|>`` inside the prompt.
* **Tags never opened.** An instruct model asked for ``<think>`` by the system prompt may never write
  it (SmolLM2: 0 of 64 samples); the strict format reward is then 0 for every completion and GRPO
  has nothing to amplify. ``tag_shares`` measures it on samples.
"""

from __future__ import annotations

import re

# The R1-Zero tags, in the format reward's order (rewards/format_rewards.py).
from rewards.format_rewards import TAGS

ROLE_NAMES = ("system", "user", "assistant", "model", "developer", "tool")
PLACEHOLDER = "\x00{}\x00"
MARK = "\x01"


def _special_strings(tokenizer) -> list[str]:
    """Every special or added token string, longest first (so `<|im_start|>` goes before `<`)."""
    strings = set(getattr(tokenizer, "all_special_tokens", []) or [])
    for token in (getattr(tokenizer, "added_tokens_decoder", None) or {}).values():
        strings.add(str(token))
    return sorted((s for s in strings if s), key=len, reverse=True)


def template_additions(tokenizer, messages: list[dict], chat_template_kwargs: dict | None = None) -> str:
    """Text the chat template adds to ``messages`` beyond their contents, special tokens and role names.

    '' for a template that only wraps what it is given. Every message's content is replaced by a
    placeholder before rendering, so a content that happens to repeat template text cannot hide it.
    """
    placeheld = [{**m, "content": PLACEHOLDER.format(i)} for i, m in enumerate(messages)]
    rendered = tokenizer.apply_chat_template(placeheld, tokenize=False, add_generation_prompt=True,
                                             **(chat_template_kwargs or {}))
    for i in range(len(messages)):
        rendered = rendered.replace(PLACEHOLDER.format(i), " ")
    for special in _special_strings(tokenizer):
        rendered = rendered.replace(special, MARK)
    # A role name is scaffolding where it heads a turn: right after a special token or a line start,
    # then a newline, `:` or another special token (`<|im_start|>system\n`, `User:`); "assistant"
    # inside a sentence is text.
    roles = "|".join(ROLE_NAMES)
    rendered = re.sub(rf"(^|{MARK}|\n)[ \t]*({roles})[ \t]*(:|\n|(?={MARK})|$)", r"\1", rendered,
                      flags=re.IGNORECASE | re.MULTILINE)
    rendered = re.sub(rf"[\s{MARK}]+", " ", rendered).strip()
    return rendered if re.search(r"[A-Za-z0-9]{2}", rendered) else ""


def tag_token_counts(tokenizer) -> dict[str, int]:
    """How many tokens each R1-Zero tag is, alone (``add_special_tokens=False``)."""
    return {tag: len(tokenizer.encode(tag, add_special_tokens=False)) for tag in TAGS}


def special_tags(tokenizer) -> list[str]:
    """The tags a ``skip_special_tokens=True`` decode (TRL's) would delete from completions."""
    specials = set(getattr(tokenizer, "all_special_tokens", []) or [])
    return [tag for tag in TAGS if tag in specials]


def tag_shares(texts: list[str]) -> dict[str, float]:
    """Share of completions that contain each tag, and ``any`` tag.

    >>> tag_shares(["<think> a </think> <answer> 1 </answer>", "The answer is 1."])
    {'<think>': 0.5, '</think>': 0.5, '<answer>': 0.5, '</answer>': 0.5, 'any': 0.5}
    """
    n = max(len(texts), 1)
    shares = {tag: sum(tag in t for t in texts) / n for tag in TAGS}
    shares["any"] = sum(any(tag in t for tag in TAGS) for t in texts) / n
    return shares


def turn_end_token(tokenizer, chat_template_kwargs: dict | None = None) -> str | None:
    """The first special token the chat template writes after an assistant message's text (None if none)."""
    marker = PLACEHOLDER.format(0)
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": marker}], tokenize=False,
        **(chat_template_kwargs or {}))
    after = rendered.split(marker, 1)[-1] if marker in rendered else ""
    found = [(after.find(s), s) for s in _special_strings(tokenizer) if s in after]
    return min(found)[1] if found else None
