"""What a resumed run does with the logs the interrupted attempt left: one history, no step twice.

An attempt killed after ``checkpoint-N`` has logged steps past N that the resumed run trains again.
The kit's JSON-lines files (``eval_history.jsonl``, ``health.jsonl``) are cut back to the records of
steps <= N, by the callback that appends to each. TensorBoard's side (one run folder, ``purge_step``)
is ``scripts/lib/training/writers.py``'s ``log_into_one_tensorboard_run``.
"""

from __future__ import annotations

import json
from pathlib import Path

from scripts.lib.runs.run_files import read_jsonl


def keep_records_up_to(path: Path, step: int) -> None:
    """Drop the records of ``path`` (one JSON object a line, each with a ``step``) past ``step``, and a line
    cut short by a kill (its step is trained, and logged, again)."""
    if path.is_file():
        kept = [record for record in read_jsonl(path) if record.get("step", 0) <= step]
        path.write_text("".join(json.dumps(record) + "\n" for record in kept), encoding="utf-8")
