"""Rows -> R1-Zero prompts.

`prompts` renders a question into the prompt a model sees; `gsm8k`, `countdown`, `math` and `arithmetic` turn raw rows
into `{"prompt", ...gold columns}` rows; `build_dataset` picks one from a recipe.
"""

from data.countdown import countdown_question, generate_countdown, load_countdown, countdown_splits
from data.gsm8k import extract_gsm8k_gold, load_gsm8k
from data.build import build_dataset
from data.loading import DataError
from data.prompts import PROMPT_TEMPLATES, build_r1_zero_prompt

__all__ = [
    "DataError",
    "PROMPT_TEMPLATES",
    "build_dataset",
    "build_r1_zero_prompt",
    "countdown_question",
    "countdown_splits",
    "extract_gsm8k_gold",
    "generate_countdown",
    "load_countdown",
    "load_gsm8k",
]
