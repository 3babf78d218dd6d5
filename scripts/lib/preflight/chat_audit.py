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
* **pad = eos.** Common (SmolLM2: ``<|im_end|>``). Harmless when attention masks
  come from the tokenizer and completions are cut at the first eos (TRL and ``scripts/lib/models/sampling.py``
  do both); wrong wherever a mask is rebuilt as ``ids != pad_token_id``, which would also hide every
  ``<|im_end|>`` inside the prompt.
* **Tags never opened.** An instruct model asked for ``<think>`` by the system prompt may never write
  it (SmolLM2: 0 of 64 samples); the strict format reward is then 0 for every completion and GRPO
  has nothing to amplify. ``tag_shares`` measures it on samples.

``check_chat`` turns these into preflight's "chat" section.
"""

from __future__ import annotations

import re

# The R1-Zero tags, in the format reward's order (rewards/format_rewards.py).
from rewards.format_rewards import TAGS
from scripts.lib.preflight.report import Section
from data.prompts import render_prompt
from scripts.lib.preflight.template import (as_completion, call_rewards, is_format_reward, probe_texts, reward_name,
                                              thinking_state)

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


# --------------------------------------------------------------------------- preflight's chat section


def decode_as_trl(tokenizer, text: str) -> str:
    """``text`` as it reaches the rewards when a model writes it: its token ids, ended by eos, decoded the way
    TRL's GRPOTrainer decodes completions (``skip_special_tokens=True``)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return tokenizer.decode(ids, skip_special_tokens=True)


def _check_decode(prompt, tokenizer, reward_funcs, chat_template_kwargs, section: Section, notes: list) -> None:
    """A correct completion, written as token ids and decoded as TRL decodes them: every tag must come back and
    every format reward must score it as it scores the text (a tag that is a special token would vanish)."""
    state = thinking_state(render_prompt(prompt, tokenizer, chat_template_kwargs))
    text = probe_texts(state, "5", "6")["correct"]
    decoded = decode_as_trl(tokenizer, text)
    lost = [tag for tag in TAGS if text.count(tag) != decoded.count(tag)]
    formats = [f for f in reward_funcs if is_format_reward(f)]
    row = [{"prompt": prompt}]
    before = call_rewards(formats, row, [as_completion(text, prompt)]) if formats else {}
    after = call_rewards(formats, row, [as_completion(decoded, prompt)]) if formats else {}
    changed = [f"{name} {before[name][0]} -> {after[name][0]}" for name in before if before[name] != after[name]]
    if lost or changed:
        section.failures.append(
            f"TRL's decode (skip_special_tokens=True) of a correct completion loses {', '.join(lost) or 'nothing'}"
            f"{': ' + ', '.join(changed) if changed else ''}: the format reward cannot see what the model writes")
    else:
        shown = ", ".join(f"{name} {after[name][0]}" for name in after)
        notes.append("TRL's decode keeps every tag of a correct completion" + (f" ({shown})" if shown else ""))


def _quote(text: str, limit: int = 90) -> str:
    text = text.replace("\n", " ")
    return f'"{text[:limit]}{"…" if len(text) > limit else ""}"'


def check_chat(prompt, tokenizer, reward_funcs, chat_template_kwargs: dict | None = None,
               sample_texts: list[str] | None = None) -> Section:
    """The traps a real tokenizer and chat template set (``scripts/lib/preflight/chat_audit.py``): text the
    template adds that the recipe did not write, tags that are several tokens or special tokens, a correct
    completion whose tags TRL's decode would lose, pad = eos, a turn end that is not eos, and (with samples) a
    ``<think>`` the model never opens."""
    section = Section("chat")
    notes = []
    if not isinstance(prompt, str):
        added = template_additions(tokenizer, prompt, chat_template_kwargs)
        if added:
            section.warnings.append(
                f"the chat template adds text the recipe did not write: {_quote(added)}; fix: set system_prompt "
                "in the recipe (a template's default system prompt is replaced by it) or give a chat_template "
                "without the addition")
        bare = [m for m in prompt if m.get("role") != "system"]
        added_bare = template_additions(tokenizer, bare, chat_template_kwargs) if len(bare) < len(prompt) else ""
        if added_bare and not added:
            notes.append(f"without a system message the template adds {_quote(added_bare, 60)}: "
                         "the recipe's system prompt replaces it")
        elif not added:
            notes.append("template adds no text")
        end = turn_end_token(tokenizer, chat_template_kwargs)
        if end and end != tokenizer.eos_token:
            section.warnings.append(
                f"the chat template ends an assistant turn with {end!r} but eos is {tokenizer.eos_token!r}: "
                "completions will not stop at the end of the answer; set the tokenizer's eos_token (and the "
                "generation config's eos_token_id) to the turn end")
    counts = tag_token_counts(tokenizer)
    split = {tag: n for tag, n in counts.items() if n > 1}
    if split:
        notes.append(", ".join(f"`{tag}` = {n} tokens" for tag, n in split.items())
                     + " (rewards read text, not token ids)")
    dropped = special_tags(tokenizer)
    if dropped:
        section.failures.append(
            f"{', '.join(dropped)} are special tokens: TRL decodes completions with skip_special_tokens=True, so "
            "the format reward never sees them; use a tokenizer where the tags are ordinary (non-special) tokens")
    if tokenizer.eos_token is None:
        section.failures.append("the tokenizer has no eos token: generation never stops before max_completion_length")
    elif tokenizer.pad_token_id == tokenizer.eos_token_id:
        notes.append(f"pad = eos = {tokenizer.eos_token} (masks come from the tokenizer; completions end at the "
                     "first eos)")
    if tokenizer.eos_token is not None:
        _check_decode(prompt, tokenizer, reward_funcs, chat_template_kwargs, section, notes)
    if sample_texts:
        shares = tag_shares(sample_texts)
        notes.append(f"samples: <think> in {shares['<think>']:.0%}, <answer> in {shares['<answer>']:.0%}, "
                     f"any tag in {shares['any']:.0%} of {len(sample_texts)}")
        names = [reward_name(f) for f in reward_funcs]
        if shares["<think>"] == 0 and any(n.startswith("format") for n in names):
            flat = [n for n in names if n.startswith("format")] if shares["any"] == 0 else ["format_reward"]
            flat = [n for n in flat if n in names]
            section.warnings.append(
                f"the model never opens <think> (0 of {len(sample_texts)} samples): {', '.join(flat)} is 0 for "
                "every completion, so GRPO has nothing to amplify there; "
                + ("" if "format_shaped_reward" in names else "add format_shaped_reward, ")
                + "show the format in the prompt (a worked example), or start from a model that writes the tags")
    section.summary = "; ".join(notes) or "no chat template (plain prompt)"
    return section
