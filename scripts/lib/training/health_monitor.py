"""Live health checks: a run that has stopped learning says so while it runs, in one line.

``HealthMonitor`` (a ``TrainerCallback``) feeds each training log (and the held-out ``eval/…`` points of
``holdout_eval_steps``) to the checks of ``scripts/lib/training/health_checks.py``; when a check's condition
has held for ``health_patience`` logged steps (format learned / accuracy flat: judged over
``health_flat_logs``; reward hacking: at the held-out eval points) it raises an alarm, once, until the
condition clears:

* one console line (``alarm_line``): the symptom, the numbers, the likely cause, what to change;
* TensorBoard: the line as text (``health/alarm``, Text tab) and a ``health/alarms`` scalar (checks in alarm
  at each logged step: 0 on a healthy run);
* a JSON record appended to ``<output_dir>/health.jsonl`` (``make checkpoints`` shows them).

An alarm never stops the run unless the recipe sets ``health_stop: true``: then training stops at
the next checkpoint and ``scripts/train.py`` exits with code 3.

The reward guard (a reward that raises or miscounts stops the run at a checkpoint) is
``scripts/lib/training/reward_guard.py``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import deque
from pathlib import Path

from transformers import TrainerCallback

from scripts.lib.process.console import say
from scripts.lib.runs.resume_logs import keep_records_up_to
from scripts.lib.runs.run_files import EVAL_HISTORY, HEALTH, read_jsonl
from scripts.lib.runs.stopping import agreed_max, stop_report
from scripts.lib.training.health_checks import CHECKS, Context, Finding, Thresholds, value
from scripts.lib.training.writers import tensorboard_writer

HELDOUT_KEYS = ("eval/pass@1_greedy", "eval/pass@1")

RUN_FIELDS = ("max_completion_length", "num_generations", "temperature", "learning_rate", "beta", "loss_type",
              "max_grad_norm", "reward_weights")


def alarm_line(step: int, symptom: str, finding: Finding) -> str:
    return (f"health alarm at step {step}: {symptom}: {finding.numbers}; likely: {finding.cause}; "
            f"change: {finding.change}")


# ---------------------------------------------------------------------------- the callback


class HealthMonitor(TrainerCallback):
    """Runs every check at each training log; see the module docstring."""

    def __init__(self, thresholds: Thresholds, *, stop: bool = False, holdout_eval_steps: int = 0, writer=None):
        self.t = thresholds
        self.stop = stop
        self.holdout_eval_steps = holdout_eval_steps
        self.writer = writer          # tests pass one; in training, the TensorBoard callback's
        self.trainer = None
        n = thresholds.patience
        self.recent: deque[dict] = deque(maxlen=max(2 * n, thresholds.flat_logs))
        self.start: list[dict] = []
        self.heldout: list[tuple[int, float, float]] = []
        self.active: dict[str, bool] = dict.fromkeys(CHECKS, False)
        self.alarms: list[dict] = []  # raised by this process, this run
        self.run: dict = {}
        self.output_dir: str | None = None
        self.stop_requested = False
        self.stopped_at: int | None = None

    @classmethod
    def from_recipe(cls, script_args, training_args) -> HealthMonitor:
        return cls(Thresholds(**script_args.health_thresholds()), stop=script_args.health_stop,
                   holdout_eval_steps=script_args.holdout_eval_steps)

    def attach(self, trainer):
        self.trainer = trainer
        trainer.add_callback(self)
        return self

    # ------------------------------------------------------------------ pure part

    def observe(self, step: int, logs: dict) -> list[dict]:
        """Add one training log; return the alarms it raises (each a JSON-ready record)."""
        self.recent.append(logs)
        if len(self.start) < self.t.patience:
            self.start.append(logs)
        if len(self.recent) < self.t.patience:
            return []
        items = list(self.recent)
        n = self.t.patience
        context = Context(items[-n:], items[-2 * n:-n], items, self.start, self.heldout, self.run, self.t)
        raised = []
        for name, (symptom, check) in CHECKS.items():
            finding = check(context)
            if finding is not None and not self.active[name]:
                raised.append({"step": step, "check": name, "symptom": symptom,
                               "line": alarm_line(step, symptom, finding), "cause": finding.cause,
                               "change": finding.change, "values": finding.values})
            self.active[name] = finding is not None
        return raised

    def observe_heldout(self, step: int, accuracy: float, history: list[dict]) -> None:
        """A held-out eval point, with the mean train reward of the ``patience`` logs up to it."""
        rewards = [value(e, "reward") for e in history if "reward" in e and e.get("step", 0) <= step]
        rewards = [r for r in rewards if r is not None][-self.t.patience:]
        if rewards:
            self.heldout.append((step, accuracy, statistics.fmean(rewards)))

    # ------------------------------------------------------------------ callback events

    def on_train_begin(self, args, state, control, **kwargs):
        self.run = {name: getattr(args, name, None) for name in RUN_FIELDS}
        self.output_dir = getattr(args, "output_dir", None)
        if self.holdout_eval_steps and self.output_dir:
            for record in read_jsonl(Path(self.output_dir) / EVAL_HISTORY):
                accuracy, step = value(record, HELDOUT_KEYS), record.get("step")
                if accuracy is not None and isinstance(step, int) and step <= state.global_step:
                    self.observe_heldout(step, accuracy, state.log_history)
        # A resumed run: the logs before the checkpoint fill the windows; their alarms were reported then.
        # Alarms recorded after the checkpoint belong to steps that are trained again: dropped.
        path = Path(self.output_dir or ".") / HEALTH
        if self.output_dir and state.is_world_process_zero and path.is_file():
            keep_records_up_to(path, state.global_step)
        for entry in state.log_history:
            if "reward" in entry and "step" in entry:
                self.observe(int(entry["step"]), entry)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "reward" not in logs or not state.is_world_process_zero:
            return
        step = state.global_step
        if self.holdout_eval_steps and step % self.holdout_eval_steps == 0 and self.output_dir:
            self._read_heldout(step, [*self.recent, {**logs, "step": step}])
        raised = self.observe(step, logs)
        writer = self._writer()
        for alarm in raised:
            say(alarm["line"])
            self.alarms.append(alarm)
            if self.output_dir:
                Path(self.output_dir).mkdir(parents=True, exist_ok=True)
                with (Path(self.output_dir) / HEALTH).open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps({**alarm, "time": time.time()}, default=str) + "\n")
        if writer is not None:
            if raised:  # one text per step (markdown paragraphs): TensorBoard shows one entry per step
                writer.add_text("health/alarm", "\n\n".join(a["line"] for a in raised), step)
            writer.add_scalar("health/alarms", sum(self.active.values()), step)
        if raised and self.stop:
            self.stop_requested = True

    def on_save(self, args, state, control, **kwargs):
        # As GracefulStop does on a signal: the checkpoint just written is where the run stops, on every rank
        # (alarms are raised on the main process only).
        if self.stop:
            self.stop_requested = bool(agreed_max(int(self.stop_requested), args.device))
        if self.stop_requested and state.global_step < state.max_steps:
            control.should_training_stop = True
            self.stopped_at = state.global_step
        return control

    # ------------------------------------------------------------------ helpers

    def _read_heldout(self, step: int, history: list[dict]) -> None:
        records = read_jsonl(Path(self.output_dir) / EVAL_HISTORY)
        record = next((r for r in reversed(records) if r.get("step") == step), None)
        accuracy = value(record, HELDOUT_KEYS) if record else None
        if accuracy is not None:
            self.observe_heldout(step, accuracy, history)

    def _writer(self):
        if self.writer is not None or self.trainer is None:
            return self.writer
        return tensorboard_writer(self.trainer)

    def report(self, output_dir: str, global_step: int, max_steps: int, argv: list[str]) -> str:
        """What to print when ``health_stop`` ended the run (exit code 3)."""
        lines = [a["line"] for a in self.alarms]
        return "\n".join(lines + [stop_report("health_stop (an alarm above)", output_dir, global_step, max_steps,
                                              argv)])
