"""The text helpers below every reward and every data builder: the text of a completion or a prompt,
the last ``<answer>`` block, the last ``\\boxed{}``. ``data/`` imports this module; nothing in
``rewards/`` imports ``data/`` (tests/test_layout.py keeps the direction one way)."""

from __future__ import annotations

import re

# The largest content scanned for \boxed{} (the answer block is bounded before math-verify anyway).
_MAX_SCAN_CHARS = 100_000
_BOXED_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")


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


def prompt_text(prompt) -> str:
    """The text of a prompt as a reward sees it: the string, or the last message's content; after an
    assistant prefill (a last message of the assistant's), the message before it and the prefill.

    >>> print(prompt_text([{"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "<think>"}]))
    What is 2 + 3?
    <think>
    """
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt and all(isinstance(m, dict) for m in prompt):
        text = str(prompt[-1].get("content", ""))
        if prompt[-1].get("role") == "assistant" and len(prompt) > 1:
            return f"{prompt[-2].get('content', '')}\n{text}"
        return text
    return ""


def last_boxed(text: str) -> str | None:
    r"""Content of the last ``\boxed{…}`` (or ``\fbox{…}``) in ``text``, braces balanced; None if none.

    >>> last_boxed("so \\boxed{1} then \\boxed{\\frac{1}{2}}."), last_boxed("\\boxed{\\{1,2\\}}")
    ('\\frac{1}{2}', '\\{1,2\\}')
    >>> last_boxed("no box") is None, last_boxed("\\boxed{unclosed") is None
    (True, True)
    """
    if not isinstance(text, str) or "box" not in text:
        return None
    tail = text[-_MAX_SCAN_CHARS:]
    starts = [m.end() for m in _BOXED_OPEN.finditer(tail)]
    for start in reversed(starts):
        depth, i = 1, start
        while i < len(tail):
            char = tail[i]
            if char == "\\":  # \{ and \} are literal braces (sets), not groups
                i += 2
                continue
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    return tail[start:i].strip()
            i += 1
    return None


def table_cell(value, digits: int = 3) -> str:
    """A number as a markdown table cell: ``-`` when not measured (None) or undefined (NaN, e.g. no
    self-checks to score); the one place the kit's tables write that cell.

    >>> table_cell(0.25), table_cell(None), table_cell(float("nan")), table_cell(2, digits=1)
    ('0.250', '-', '-', '2.0')
    """
    return "-" if value is None or value != value else f"{value:.{digits}f}"
