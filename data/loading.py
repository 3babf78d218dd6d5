"""Read rows from a local file or the hub, and build a recipe's train / held-out datasets.

Every failure a user can cause (missing file, empty file, malformed line, unknown task) raises
``DataError`` with one line naming the file and what to do; the scripts print it without a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class DataError(ValueError):
    """A problem with the user's data, explained in one line."""


LOCAL_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


def is_local(path_or_id: str) -> bool:
    return os.path.exists(path_or_id) or path_or_id.endswith(LOCAL_SUFFIXES) or path_or_id.startswith((".", "/", "~"))


def read_jsonl(path: str | Path) -> list[dict]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"dataset file not found: {path}")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{line_no}: not valid JSON ({err.msg}); fix or delete that line") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{line_no}: expected a JSON object per line, got {type(row).__name__}")
            rows.append(row)
    if not rows:
        raise DataError(f"dataset file is empty: {path}")
    return rows


def read_rows(path_or_id: str, split: str = "train", config: str | None = None) -> list[dict]:
    """Rows of a local jsonl file, a local folder holding ``{split}.jsonl``, or a hub dataset split."""
    path = Path(path_or_id).expanduser()
    if path.is_dir():
        candidate = path / f"{split}.jsonl"
        if not candidate.is_file():
            raise DataError(f"{path} has no {split}.jsonl (give the file itself, or a folder with {split}.jsonl)")
        return read_jsonl(candidate)
    if path.suffix == ".jsonl" or path.suffix == ".json":
        return read_jsonl(path)
    if is_local(path_or_id):
        raise DataError(f"dataset file not found: {path_or_id}")
    return _load_hub_split(path_or_id, split, config)


def _load_hub_split(dataset_id: str, split: str, config: str | None) -> list[dict]:
    from datasets import load_dataset

    try:
        try:
            dataset = load_dataset(dataset_id, config, split=split) if config else load_dataset(dataset_id, split=split)
        except ValueError as err:
            # openai/gsm8k needs its config name; other datasets have none.
            if config and "config" in str(err).lower():
                dataset = load_dataset(dataset_id, split=split)
            else:
                raise
    except Exception as err:  # noqa: BLE001 - the hub raises many types; the user needs one line
        offline = os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1"
        raise DataError(
            f"could not load dataset {dataset_id!r} split {split!r} ({type(err).__name__}). "
            f"{'Offline mode is on and it is not cached. ' if offline else ''}"
            "Run `make download RECIPE=...` where the hub is reachable, or set dataset_name to a local .jsonl file"
        ) from None
    return [dict(row) for row in dataset]


def build_dataset(task: str, dataset_name: str | None = None, train_split: str = "train",
                  test_split: str = "test", template: str = "r1_zero", system_prompt: str | None = None,
                  on_bad_row: str = "skip", max_train_samples: int | None = None, test_size: int = 0,
                  countdown: dict | None = None, seed: int = 0, question_style: str = "full"):
    """(train rows, held-out rows, number of skipped rows) for a recipe's task.

    Countdown without ``dataset_name`` is generated: a seeded held-out set, then training problems
    that exclude it. With ``dataset_name`` (hub id or local file) rows are read and converted.
    """
    from data.countdown import countdown_splits, countdown_to_r1_zero
    from data.gsm8k import gsm8k_to_r1_zero

    convert = {"gsm8k": gsm8k_to_r1_zero, "countdown": countdown_to_r1_zero}.get(task)
    if convert is None:
        raise DataError(f"unknown task {task!r}: use one of ['countdown', 'gsm8k']")
    options = dict(template=template, system_prompt=system_prompt, on_bad_row=on_bad_row)
    if task == "countdown":
        options["question_style"] = question_style

    if task == "countdown" and not dataset_name:
        train_size = max_train_samples or 20_000
        raw_train, raw_test = countdown_splits(train_size, test_size, seed=seed, **(countdown or {}))
        train, skipped = convert(raw_train, source="generated countdown", **options)
        test, _ = convert(raw_test, source="generated countdown", **options)
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
