"""A recipe's task -> (train rows, held-out rows, skipped): generated Countdown / arithmetic or converted rows."""

from __future__ import annotations

from pathlib import Path

from data.arithmetic import arithmetic_splits, arithmetic_to_r1_zero
from data.countdown import countdown_splits, countdown_to_r1_zero
from data.gsm8k import gsm8k_to_r1_zero
from data.math import math_to_r1_zero
from data.loading import DataError, read_rows


def build_dataset(task: str, dataset_name: str | None = None, train_split: str = "train",
                  test_split: str = "test", template: str = "r1_zero", system_prompt: str | None = None,
                  on_bad_row: str = "skip", max_train_samples: int | None = None, test_size: int = 0,
                  countdown: dict | None = None, seed: int = 0, question_style: str = "full",
                  math_levels=None, arithmetic: dict | None = None):
    """(train rows, held-out rows, number of skipped rows) for a recipe's task.

    Countdown and arithmetic without ``dataset_name`` are generated: a seeded held-out set, then
    training problems that exclude it. With ``dataset_name`` (hub id or local file) rows are read and converted.
    """
    convert = {"gsm8k": gsm8k_to_r1_zero, "countdown": countdown_to_r1_zero, "math": math_to_r1_zero,
               "arithmetic": arithmetic_to_r1_zero}.get(task)
    if convert is None:
        raise DataError(f"unknown task {task!r}: use one of ['arithmetic', 'countdown', 'gsm8k', 'math']")
    options = dict(template=template, system_prompt=system_prompt, on_bad_row=on_bad_row)
    if task == "countdown":
        options["question_style"] = question_style
    if task == "math":
        options["levels"] = math_levels

    if task in ("countdown", "arithmetic") and not dataset_name:
        train_size = max_train_samples or 20_000
        splits = countdown_splits if task == "countdown" else arithmetic_splits
        try:
            raw_train, raw_test = splits(train_size, test_size, seed=seed,
                                         **((countdown if task == "countdown" else arithmetic) or {}))
        except ValueError as err:
            raise DataError(str(err)) from None
        train, skipped = convert(raw_train, source=f"generated {task}", **options)
        test, _ = convert(raw_test, source=f"generated {task}", **options)
        return train, test, skipped
    if not dataset_name:
        raise DataError(f"task {task!r} needs dataset_name (a hub id like openai/gsm8k or a local .jsonl file)")

    config = "main" if task == "gsm8k" else None
    single_file = Path(dataset_name).expanduser().is_file()
    try:
        raw_train = read_rows(dataset_name, split=train_split, config=config)
        train, skipped = convert(raw_train, source=_source(dataset_name, train_split), **options)
        test = []
        if test_size and single_file:
            # One file holds everything: hold out its tail, so held-out rows are never trained on.
            train, test = train[:-test_size], train[-test_size:]
        elif test_size:
            raw_test = read_rows(dataset_name, split=test_split, config=config)
            test, _ = convert(raw_test, source=_source(dataset_name, test_split), **options)
            test = test[:test_size]
    except ValueError as err:
        if isinstance(err, DataError):
            raise
        raise DataError(str(err)) from None
    if not train:
        raise DataError(f"{dataset_name}: no usable rows ({skipped} skipped: no question or no gold answer)")
    if max_train_samples:
        train = train[:max_train_samples]
    return train, test, skipped


def _source(dataset_name: str, split: str) -> str:
    path = Path(dataset_name)
    return str(path / f"{split}.jsonl") if path.is_dir() else dataset_name
