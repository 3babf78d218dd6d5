r"""MATH rows -> R1-Zero prompts with a LaTeX gold answer.

A MATH row (Hendrycks et al. 2021) has ``problem``, ``solution`` (a worked solution whose final
answer is in ``\boxed{…}``), ``level`` (``"Level 1"`` … ``"Level 5"``) and ``type``. The gold is the
content of the solution's last ``\boxed{}``, braces balanced. Rows that already carry the final
answer (MATH-500, AIME, AMC: an ``answer`` column) use it as is. The usual R1-Zero training subset is
levels 3-5 (SimpleRL-Zoo, Dr. GRPO): ``levels=(3, 4, 5)``.

>>> extract_math_gold("So $x = \\boxed{\\frac{1}{2}}$.")
'\\frac{1}{2}'
>>> extract_math_gold("two boxes: \\boxed{1} and \\boxed{\\{2, 3\\}}"), extract_math_gold("no box") is None
('\\{2, 3\\}', True)
>>> math_level({"level": "Level 4"}), math_level({"level": 2}), math_level({"level": "?"}) is None
(4, 2, True)
"""

from __future__ import annotations

from data.prompts import build_r1_zero_prompt
from rewards.text import last_boxed

# The MATH training set on the hub (7,500 problems with level and type; config "default").
MATH_TRAIN_ID = "DigitalLearningGmbH/MATH-lighteval"
QUESTION_COLUMNS = ("problem", "question", "Problem", "Question")
ANSWER_COLUMNS = ("answer", "Answer", "final_answer")


def extract_math_gold(solution) -> str | None:
    r"""The content of the last ``\boxed{}`` of a worked solution, or None if it has none."""
    if not isinstance(solution, str):
        return None
    gold = last_boxed(solution)
    return gold or None


def math_level(row: dict) -> int | None:
    """The row's difficulty level as an int (``"Level 3"`` -> 3), or None if it has none."""
    level = row.get("level")
    if isinstance(level, int):
        return level
    if isinstance(level, str):
        digits = "".join(ch for ch in level if ch.isdigit())
        return int(digits) if digits else None
    return None


def row_gold(row: dict) -> str | None:
    """The final answer of a row: an ``answer`` column, else the last ``\\boxed{}`` of ``solution``."""
    for key in ANSWER_COLUMNS:
        value = row.get(key)
        if value is not None and str(value).strip():
            text = str(value).strip()
            # A float column (AMC on the hub: 27.0) is an integer answer.
            if isinstance(value, float) and value.is_integer():
                text = str(int(value))
            return extract_math_gold(text) or text
    return extract_math_gold(row.get("solution"))


def row_question(row: dict) -> str | None:
    for key in QUESTION_COLUMNS:
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def math_to_r1_zero(rows, template: str = "r1_zero", system_prompt: str | None = None, on_bad_row: str = "skip",
                    source: str = "math", levels=None) -> tuple[list[dict], int]:
    """Turn MATH-style rows into ``{"prompt", "solution", "question"[, "level"]}`` rows.

    ``levels`` (e.g. ``(3, 4, 5)``) keeps only rows of those levels; rows without a level are kept
    only when no filter is set. Rows with no question or no readable gold are skipped and counted
    (``on_bad_row="skip"``) or raise ``ValueError`` naming the row (``"fail"``). Rows left out by the
    level filter are not counted as skipped.
    """
    wanted = set(levels) if levels else None
    out, skipped = [], 0
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            question, gold = None, None
        else:
            if wanted is not None and math_level(row) not in wanted:
                continue
            question, gold = row_question(row), row_gold(row)
        if question is None or gold is None:
            if on_bad_row == "fail":
                raise ValueError(f"{source}: row {index + 1} has no problem or no final answer "
                                 "(an `answer` column or a \\boxed{} in `solution`)")
            skipped += 1
            continue
        item = {"prompt": build_r1_zero_prompt(question, template, system_prompt), "solution": gold,
                "question": question}
        level = math_level(row)
        if level is not None:
            item["level"] = level
        out.append(item)
    return out, skipped


def load_math(path_or_id: str = MATH_TRAIN_ID, split: str = "train", levels=None, **kwargs) -> tuple[list[dict], int]:
    """Load MATH-style rows from a local ``.jsonl`` file, a folder with ``{split}.jsonl``, or the hub."""
    from data.loading import read_rows

    rows = read_rows(path_or_id, split=split)
    return math_to_r1_zero(rows, source=path_or_id, levels=levels, **kwargs)
