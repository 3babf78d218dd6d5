"""Format rewards: is the completion ``<think> reasoning </think> <answer> answer </answer>``?

``format_reward`` (strict, 1.0 or 0.0): after trimming whitespace, the completion is exactly one
``<think>…</think>`` block, optional whitespace, one ``<answer>…</answer>`` block, and nothing else.
Each of the four tags appears exactly once.

>>> format_reward(["<think> 2 + 3 = 5 </think> <answer> 5 </answer>"])
[1.0]
>>> format_reward(["<think> 2 + 3 = 5 </think> <answer> 5 </answer> and more"])   # text after the answer
[0.0]
>>> format_reward(["<think> a </think> <think> b </think> <answer> 5 </answer>"])   # two think blocks
[0.0]
>>> format_reward(["<answer> 5 </answer>"])                                          # no thinking
[0.0]

When the prompt already ends with ``<think>`` (a template that pre-fills it, as TinyZero's does),
the completion is read as if it started with that tag, so a correct completion is not scored 0:

>>> format_reward([" 2 + 3 = 5 </think> <answer> 5 </answer>"], prompts=["... Assistant: <think>"])
[1.0]

``format_shaped_reward`` (0.0 to 1.0): 0.25 for each of the four tags present exactly once, as
open-r1's ``tag_count_reward``; it gives a gradient while the strict reward is still always 0.

>>> format_shaped_reward(["<think> a </think> <answer> 5"])
[0.75]
>>> format_shaped_reward(["<think> a </think> <answer> 5 </answer>", "no tags"])
[1.0, 0.0]

A recipe picks one by name (``reward_funcs: [format_shaped_reward, countdown_reward]``). Both are
linear in the completion's length (string methods, no backtracking regex): a megabyte of text with
a hundred thousand unclosed tags is scored in a few milliseconds.
"""

from __future__ import annotations

from rewards.text import broadcast, completion_text, prompt_text

TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def _prompt_prefill(prompt) -> str:
    return "<think>" if prompt_text(prompt).rstrip().endswith("<think>") else ""


def is_strict_format(text: str) -> bool:
    # str methods, not a regex: a megabyte of reasoning is checked in about a millisecond.
    text = text.strip()
    if not (text.startswith("<think>") and text.endswith("</answer>")):
        return False
    if any(text.count(tag) != 1 for tag in TAGS):
        return False
    think_end, answer_start = text.find("</think>"), text.find("<answer>")
    return think_end < answer_start and not text[think_end + len("</think>"):answer_start].strip()


def format_reward(completions, prompts=None, **kwargs) -> list[float]:
    """1.0 if the completion is exactly ``<think>…</think> <answer>…</answer>``, else 0.0."""
    prompts = broadcast(prompts, len(completions))
    return [
        1.0 if is_strict_format(_prompt_prefill(prompt) + completion_text(completion)) else 0.0
        for completion, prompt in zip(completions, prompts)
    ]


def format_shaped_reward(completions, prompts=None, **kwargs) -> list[float]:
    """0.25 per tag that appears exactly once (0.0 to 1.0)."""
    prompts = broadcast(prompts, len(completions))
    scores = []
    for completion, prompt in zip(completions, prompts):
        text = _prompt_prefill(prompt) + completion_text(completion)
        scores.append(0.25 * sum(text.count(tag) == 1 for tag in TAGS))
    return scores
