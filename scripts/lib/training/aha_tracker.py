"""The "aha" tracker: what the model writes, logged next to TRL's scalars at every logging step.

TRL logs reward means and completion lengths. To see the R1-Zero dynamics you also need to know
*what kind* of completions the policy writes: how often it re-checks itself, whether those checks
are true, how long it reasons. ``AhaTracker`` reads the last generation batch that TRL keeps for
its completions table (``trainer._logs``) and adds, under ``aha/`` (TensorBoard: ``train/aha/…``):

* ``aha/format`` and ``aha/accuracy`` (the format and task rewards' means, same names for every task
  and every format reward),
* ``aha/self_check_share`` (completions with a reflection phrase: "wait", "let me check", …),
* ``aha/honest_checks`` (Countdown: share of the trace's claims, each step and each check, that are true),
* ``aha/accuracy_self_checking``, ``aha/accuracy_not_checking`` and ``aha/accuracy_ratio`` (does
  self-checking pay in the policy's own samples?),
* Countdown, where code checks every try: ``aha/tries_mean``, ``aha/first_try_accuracy``,
  ``aha/final_accuracy``, ``aha/wrong_to_right`` and ``aha/right_to_wrong`` (the revision rates),
  all from ``scripts.lib.measure.reflection.revision_numbers``, the same numbers ``make eval`` prints,
* ``aha/length_mean`` and ``aha/length_p90`` (completion tokens, counted as TRL counts them, from the
  completion masks of the batch this process trained on: no re-tokenizing, so it costs nothing),

every ``log_samples_every`` steps a few full completions as TensorBoard text (``aha/samples``), an
"aha" custom-scalars dashboard (reward, accuracy, format, length, reflection on one page: ``writers.AHA_LAYOUT``),
and, once, the aha step when ``scripts/lib/measure/aha.py``'s heuristic confirms one (a console line and
``aha/aha_step`` text).

The metrics go into the same ``logs`` dict TRL passes to every callback (the tracker is registered
first), so they reach TensorBoard and ``trainer_state.json``'s log history under the same names.
With ``logging_steps > 1`` they describe the last generation batch before the log, not an average.

``<output_dir>/run_info.json`` records the command, the settings that shaped the run and the aha
step, so ``make checkpoints``, ``make plot`` and ``make export`` can describe a run afterwards.
"""

from __future__ import annotations

import json
import math
import shlex
import statistics
from pathlib import Path

from transformers import TrainerCallback

from rewards import ACCURACY_REWARD_FOR_TASK
from rewards.text import completion_text, prompt_text
from scripts.lib.measure.aha import (
    ACCURACY_KEY,
    FORMAT_KEY,
    LENGTH_MEAN_KEY,
    LENGTH_P90_KEY,
    REFLECTION_KEY,
    REVISION_KEYS,
    WRONG_TO_RIGHT_KEY,
    AhaDetector,
)
from scripts.lib.measure.reflection import has_self_check, revision_numbers
from scripts.lib.measure.trace_grammar import one_try_per_line
from scripts.lib.process.console import say
from scripts.lib.runs.run_files import RUN_INFO
from scripts.lib.training.writers import AHA_LAYOUT, fence, log_text, tensorboard_writer, wandb_run

# GRPOConfig fields worth keeping with the run (the model card and `make checkpoints` cite them).
TRAINING_FIELDS = ("learning_rate", "lr_scheduler_type", "beta", "loss_type", "num_generations",
                   "per_device_train_batch_size", "gradient_accumulation_steps", "max_completion_length",
                   "temperature", "top_k", "top_p", "max_steps", "seed")


class AhaTracker(TrainerCallback):
    def __init__(self, task: str, rows=(), reflection_phrases=None, *, log_samples_every: int,
                 samples_per_log: int, aha_settings: dict, command=None):
        self.task = task
        self.accuracy_name = ACCURACY_REWARD_FOR_TASK.get(task)
        self.reflection_phrases = list(reflection_phrases) if reflection_phrases is not None else None
        self.log_samples_every = log_samples_every
        self.samples_per_log = samples_per_log
        self.aha_settings = dict(aha_settings)
        self.detector = AhaDetector(**self.aha_settings)
        self.command = list(command) if command is not None else None
        # Gold columns by prompt text: TRL's completion log keeps prompts, not dataset columns.
        self.gold = {prompt_text(r["prompt"]): {"target": r.get("target"), "nums": r.get("nums")}
                     for r in rows if "target" in r}
        self.trainer = None
        self._last_sample_step: int | None = None
        self._layout_written = False

    def attach(self, trainer):
        """Register first, so the metrics added in ``on_log`` reach TensorBoard's callback too."""
        self.trainer = trainer
        trainer.callback_handler.callbacks.insert(0, self)
        return self

    # ------------------------------------------------------------------ metrics

    def completion_lengths(self) -> list[int]:
        """Token lengths (EOS included, as TRL counts) of this process's completions in the last generation batch.

        Read from the completion masks GRPOTrainer buffers for its optimizer steps, so nothing is
        re-tokenized. With ``mask_truncated_completions`` a truncated completion's mask is all zeros;
        it was cut at ``max_completion_length``, which is then its length.
        """
        batches = getattr(self.trainer, "_buffered_inputs", None) or []
        masks = [b["completion_mask"] for b in batches if isinstance(b, dict) and "completion_mask" in b]
        lengths = [int(n) for mask in masks for n in mask.sum(dim=1).tolist()]
        args = getattr(self.trainer, "args", None)
        if getattr(args, "mask_truncated_completions", False):
            lengths = [n or args.max_completion_length for n in lengths]
        return sorted(lengths)

    def batch_metrics(self) -> dict:
        logs = getattr(self.trainer, "_logs", None)
        if not logs or not logs.get("completion"):
            return {}
        completions = [completion_text(c) for c in logs["completion"]]
        metrics = {
            REFLECTION_KEY: statistics.fmean(has_self_check(t, self.reflection_phrases) for t in completions),
        }
        lengths = self.completion_lengths()
        if lengths:
            metrics[LENGTH_MEAN_KEY] = statistics.fmean(lengths)
            # nearest-rank p90: a length some completion really has
            metrics[LENGTH_P90_KEY] = float(lengths[math.ceil(0.9 * len(lengths)) - 1])
        rewards = logs.get("rewards", {})
        # `format_reward`, or the recipe's other format reward (e.g. format_shaped_reward)
        format_name = "format_reward" if "format_reward" in rewards else next((n for n in rewards if "format" in n), None)
        for key, name in ((FORMAT_KEY, format_name), (ACCURACY_KEY, self.accuracy_name)):
            values = [v for v in rewards.get(name, []) if v == v]  # drop NaN (unscorable rows)
            if values:
                metrics[key] = statistics.fmean(values)
        accuracy = rewards.get(self.accuracy_name)
        if accuracy and len(accuracy) == len(completions):
            gold = [self.gold.get(prompt_text(p), {}) for p in logs["prompt"]]
            summary = revision_numbers(completions, accuracy, rewards.get(format_name), self.task,
                                       [g.get("target") for g in gold], [g.get("nums") for g in gold],
                                       self.reflection_phrases)
            for key, name in REVISION_KEYS.items():
                value = summary.get(name)
                if isinstance(value, float) and math.isfinite(value) and (name != "accuracy" or "tries_mean" in summary):
                    metrics[key] = value
        return metrics

    def samples_markdown(self, step: int) -> str:
        logs = self.trainer._logs
        n = len(logs["completion"])
        k = min(self.samples_per_log, n)
        # Spread over the batch: consecutive completions share a prompt (one GRPO group).
        picks = sorted({i * n // k for i in range(k)})
        parts = [f"step {step}: {k} of {n} completions in the last generation batch"]
        for i in picks:
            rewards = ", ".join(f"{name} = {values[i]:.2f}" for name, values in logs["rewards"].items()
                                if i < len(values))
            parts.append(f"**prompt**\n\n{fence(prompt_text(logs['prompt'][i])[-1000:])}\n\n"
                         f"**completion**\n\n{fence(one_try_per_line(completion_text(logs['completion'][i])))}\n\n"
                         f"**rewards**: {rewards or 'none'}")
        return "\n\n---\n\n".join(parts)

    # ------------------------------------------------------------------ callback events

    def on_train_begin(self, args, state, control, **kwargs):
        # A resumed run: the history before the checkpoint counts toward the baseline and the window.
        for entry in state.log_history:
            found = self.detector.update_from_log(entry)
            if found is not None and state.is_world_process_zero:
                say(found.describe(self.detector.window) + " [before this resume]")
        if state.is_world_process_zero and self.trainer is not None:
            self._write_run_info(args)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.trainer is None or logs is None or "reward" not in logs or not state.is_world_process_zero:
            return
        metrics = self.batch_metrics()
        logs.update(metrics)
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1].update(metrics)
        found = self.detector.update(state.global_step, metrics.get(REFLECTION_KEY), metrics.get(ACCURACY_KEY),
                                     metrics.get(WRONG_TO_RIGHT_KEY))
        writer, run = tensorboard_writer(self.trainer), wandb_run(args)
        if found is not None:
            line = found.describe(self.detector.window)
            say(line)
            self._update_run_info(args, aha={"step": found.step, "confirmed_at": found.confirmed_at})
            log_text(writer, run, "aha/aha_step", line, state.global_step)
        if writer is None and run is None:
            return
        if writer is not None and not self._layout_written:
            writer.add_custom_scalars(AHA_LAYOUT)
            self._layout_written = True
        due = self._last_sample_step is None or state.global_step - self._last_sample_step >= self.log_samples_every
        if self.log_samples_every and due and self.trainer._logs.get("completion"):
            log_text(writer, run, "aha/samples", self.samples_markdown(state.global_step), state.global_step)
            self._last_sample_step = state.global_step

    def on_train_end(self, args, state, control, **kwargs):
        # Checkpoints hold the history up to their step; this keeps the whole curve for `make plot`.
        if state.is_world_process_zero:
            Path(args.output_dir).mkdir(parents=True, exist_ok=True)
            state.save_to_json(str(Path(args.output_dir) / "trainer_state.json"))

    # ------------------------------------------------------------------ run_info.json

    def _write_run_info(self, args) -> None:
        model = self.trainer.model
        config = getattr(model, "config", None)
        recipe = None
        if self.command and "--config" in self.command[:-1]:
            recipe = self.command[self.command.index("--config") + 1]
        found = self.detector.result
        info = {
            "command": "python -m scripts.train " + shlex.join(self.command) if self.command is not None else None,
            "recipe": recipe,
            "base_model": getattr(config, "_name_or_path", None),
            "task": self.task,
            "reward_funcs": list(getattr(self.trainer, "reward_func_names", [])),
            "reward_weights": list(args.reward_weights) if getattr(args, "reward_weights", None) else None,
            "training": {name: getattr(args, name) for name in TRAINING_FIELDS if hasattr(args, name)},
            "tracker": {"reflection_phrases": self.reflection_phrases, "aha": self.aha_settings},
            "aha": {"step": found.step, "confirmed_at": found.confirmed_at} if found is not None else None,
        }
        self._dump(args, info)

    def _read_run_info(self, args) -> dict:
        path = Path(args.output_dir) / RUN_INFO
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _update_run_info(self, args, **changes) -> None:
        info = self._read_run_info(args)
        info.update(changes)
        self._dump(args, info)

    @staticmethod
    def _dump(args, info: dict) -> None:
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / RUN_INFO).write_text(json.dumps(info, indent=2, default=str) + "\n", encoding="utf-8")
