"""Read rows from a local file or the hub, and decide which a name is (``is_local``).

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


def is_local(name: str) -> bool:
    """Whether a model or dataset name is a path on this machine rather than a hub id.

    The one rule every command uses: a path that exists, one that starts like a path, one with more
    than one ``/`` (hub ids have exactly ``owner/name`` or a bare name), or a data file's name.

    >>> is_local("Qwen/Qwen2.5-0.5B"), is_local("openai/gsm8k"), is_local("gpt2")
    (False, False, False)
    >>> is_local("./outputs/run"), is_local("outputs/tiny-base/countdown"), is_local("my_rows.jsonl")
    (True, True, True)
    """
    return (name.startswith((".", "/", "~")) or name.count("/") > 1 or name.endswith(LOCAL_SUFFIXES)
            or os.path.exists(os.path.expanduser(name)))


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
