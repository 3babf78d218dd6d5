"""The training console: one readable line per logging step (``ConsoleLog``), and no transformers
progress bar between them at each checkpoint save (``quiet_checkpoint_saves``).
"""

from __future__ import annotations

from contextlib import contextmanager

from transformers import TrainerCallback
from transformers.utils import logging as hf_logging

from scripts.lib.process.console import say

class ConsoleLog(TrainerCallback):
    """One readable line per logging step instead of the Trainer's ~30-key dict.

    Replaces transformers' ``PrinterCallback`` / ``ProgressCallback`` console output (the progress
    bar stays); every number is still in TensorBoard and ``trainer_state.json``.
    """

    FIELDS = (("reward", "reward", "{:.3f}"), ("aha/format", "format", "{:.2f}"),
              ("aha/accuracy", "acc", "{:.3f}"), ("aha/self_check_share", "self-check", "{:.2f}"),
              ("completions/mean_length", "len", "{:.0f}"), ("kl", "kl", "{:.4f}"), ("step_time", "s/step", "{:.2f}"))

    def __init__(self, show_bar: bool):
        from transformers import ProgressCallback

        self.bar = ProgressCallback() if show_bar else None

    def on_train_begin(self, args, state, control, **kwargs):
        if self.bar:
            self.bar.on_train_begin(args, state, control, **kwargs)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar:
            self.bar.on_step_end(args, state, control, **kwargs)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar:
            self.bar.on_train_end(args, state, control, **kwargs)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "reward" not in logs:
            if state.is_world_process_zero and logs and "train_runtime" in logs:
                self._write(f"train: {logs['train_runtime']:.0f} s, {logs.get('train_steps_per_second', 0):.2f} steps/s")
            return
        parts = [f"step {state.global_step}/{state.max_steps}"]
        parts += [f"{label} {fmt.format(logs[key])}" for key, label, fmt in self.FIELDS
                  if isinstance(logs.get(key), (int, float))]
        self._write(" | ".join(parts))

    def _write(self, line: str) -> None:
        say(line)


@contextmanager
def quiet_checkpoint_saves():
    """transformers' own progress bars off while training (each checkpoint save would print a
    "Writing model shards" bar between the step lines); the training bar is ``ConsoleLog``'s."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
