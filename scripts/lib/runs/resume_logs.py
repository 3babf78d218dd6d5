"""What a resumed run does with the logs the interrupted attempt left: one history, no step twice.

An attempt killed after ``checkpoint-N`` has logged steps past N that the resumed run trains again.
TensorBoard: the resumed run writes into the same run folder as the attempt it continues (not a new
``runs/<date>_<host>``, which TensorBoard would show as a separate run) and opens its writer with
``purge_step = N + 1``, TensorBoard's own mark for a restart: events at steps >= N + 1 written before it
are dropped when the folder is read. The kit's JSON-lines files (``eval_history.jsonl``,
``health.jsonl``) are cut back to the records of steps <= N, by the callback that appends to each.
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


def tensorboard_folder_to_continue(output_dir: str | Path) -> Path | None:
    """The run folder under ``<output_dir>/runs`` whose events were written last (None if there is none)."""
    events = list((Path(output_dir) / "runs").glob("*/events.out.tfevents.*"))
    return max(events, key=lambda p: p.stat().st_mtime).parent if events else None


def continue_tensorboard(trainer, checkpoint: str | None) -> None:
    """Before ``trainer.train(resume_from_checkpoint=checkpoint)``: TensorBoard continues the interrupted run."""
    from transformers.integrations import TensorBoardCallback

    if not checkpoint or not trainer.is_world_process_zero():
        return
    callback = next((c for c in trainer.callback_handler.callbacks if isinstance(c, TensorBoardCallback)), None)
    if callback is None or callback.tb_writer is not None:
        return
    folder = callback.logging_dir or tensorboard_folder_to_continue(trainer.args.output_dir)
    if folder is None:
        return
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8"))
    callback.tb_writer = callback._SummaryWriter(log_dir=str(folder), purge_step=int(state["global_step"]) + 1)
