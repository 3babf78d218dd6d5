"""GSM8K rows -> R1-Zero prompts with a numeric gold answer.

A GSM8K ``answer`` is a worked solution ending in ``#### 1,234``; the gold is what follows ``####``,
with thousands separators removed.

>>> extract_gsm8k_gold("She sold 48/2 = <<48/2=24>>24 clips in May.\\n#### 1,024")
'1024'
>>> extract_gsm8k_gold("no final answer line") is None
True
"""

from __future__ import annotations

import re

from data.loading import read_rows
from data.prompts import build_r1_zero_prompt

_GOLD = re.compile(r"####\s*([^\n]+?)\s*$")


def extract_gsm8k_gold(answer: str) -> str | None:
    """The final answer after ``####`` with commas stripped, or None if the row has none."""
    if not isinstance(answer, str):
        return None
    match = _GOLD.search(answer.strip())
    if not match:
        return None
    gold = match.group(1).replace(",", "").replace("$", "").strip()
    return gold or None


def gsm8k_to_r1_zero(rows, template: str = "r1_zero", system_prompt: str | None = None,
                     on_bad_row: str = "skip", source: str = "gsm8k") -> tuple[list[dict], int]:
    """Turn ``{"question", "answer"}`` rows into ``{"prompt", "solution", "question"}`` rows.

    Rows without a ``####`` answer are skipped and counted (``on_bad_row="skip"``), or raise
    ``ValueError`` naming the row (``"fail"``): never kept with an empty gold, which would
    silently score every completion 0.
    """
    out, skipped = [], 0
    for index, row in enumerate(rows):
        question = row.get("question") if isinstance(row, dict) else None
        gold = extract_gsm8k_gold(row.get("answer")) if isinstance(row, dict) else None
        if not isinstance(question, str) or not question.strip() or gold is None:
            if on_bad_row == "fail":
                raise ValueError(f"{source}: row {index + 1} has no question or no '#### <answer>' line")
            skipped += 1
            continue
        out.append({
            "prompt": build_r1_zero_prompt(question.strip(), template, system_prompt),
            "solution": gold,
            "question": question.strip(),
        })
    return out, skipped


def load_gsm8k(path_or_id: str = "openai/gsm8k", split: str = "train", **kwargs) -> tuple[list[dict], int]:
    """Load GSM8K from a local jsonl file or the hub (``openai/gsm8k``, config ``main``)."""
    rows = read_rows(path_or_id, split=split, config="main")
    return gsm8k_to_r1_zero(rows, source=path_or_id, **kwargs)
