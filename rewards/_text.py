"""Shared helpers: get the text out of a completion, and find the last <answer> block."""

from __future__ import annotations



def completion_text(completion) -> str:
    """Text of a completion: TRL passes a string (plain prompts) or a list of messages (chat)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        last = completion[-1]
        if isinstance(last, dict):
            content = last.get("content", "")
            return content if isinstance(content, str) else str(content)
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    return ""


def extract_answer(text: str) -> str | None:
    """Content of the last complete ``<answer>…</answer>`` block, stripped; None if there is none."""
    # rfind, not a regex: a lazy `<answer>(.*?)</answer>` over hostile text with thousands of
    # unclosed tags is quadratic; two reverse scans are linear.
    end = text.rfind("</answer>")
    if end < 0:
        return None
    start = text.rfind("<answer>", 0, end)
    if start < 0:
        return None
    return text[start + len("<answer>"):end].strip()


def asks_for_boxed(prompt) -> bool:
    r"""True when a prompt asks for the final answer in ``\boxed{}`` and has no ``<answer>`` tag (the
    Qwen-Math template, ``qwen_math`` in ``data/prompts.py``): the MATH accuracy reward then reads the
    completion's last ``\boxed{}`` instead of its ``<answer>`` block, and preflight probes answer that way.

    >>> asks_for_boxed("<|im_start|>system\\nPlease reason step by step, and put your final answer within \\\\boxed{}.")
    True
    >>> asks_for_boxed("... <answer> </answer> tags ... User: x Assistant:"), asks_for_boxed([{"content": "\\\\boxed{}"}])
    (False, True)
    """
    text = completion_text(prompt)
    return "\\boxed{}" in text and "<answer>" not in text


def broadcast(values, n: int) -> list:
    """A per-row kwarg column as a list of n items (TRL repeats columns per completion)."""
    if values is None:
        return [None] * n
    if isinstance(values, (list, tuple)):
        return list(values)
    return [values] * n
