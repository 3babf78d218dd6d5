"""The "aha" tracker: what the model writes, logged next to TRL's scalars at every logging step.

TRL logs reward means and completion lengths. To see the R1-Zero dynamics you also need to know
*what kind* of completions the policy writes: how often it re-checks itself, whether those checks
are true, how long it reasons. ``AhaTracker`` reads the last generation batch that TRL keeps for
its completions table (``trainer._logs``) and adds, under ``aha/``:

* ``aha/format`` and ``aha/accuracy`` (the format and task rewards' means, same names for every task),
* ``aha/self_check_share`` (completions with a reflection phrase: "wait", "let me check", …),
* ``aha/honest_checks`` (Countdown: share of the checks' claims that are true),
* ``aha/length_mean`` and ``aha/length_p90`` (completion tokens),

and every ``log_samples_every`` logging steps a few full completions as TensorBoard text.
"""

from __future__ import annotations

import statistics

from transformers import TrainerCallback

from data.prompts import prompt_text
from rewards import ACCURACY_REWARD_FOR_TASK
from rewards._text import completion_text
from rewards.reflection import countdown_check_claims, has_self_check

AHA_LAYOUT = {
    "aha": {
        "reward": ["Multiline", [r"^reward$", r"^train/reward$"]],
        "accuracy": ["Multiline", [r"aha/accuracy"]],
        "format": ["Multiline", [r"aha/format"]],
        "length": ["Multiline", [r"aha/length_.*", r"completions/mean_length"]],
        "reflection": ["Multiline", [r"aha/self_check_share", r"aha/honest_checks"]],
    }
}


def _tensorboard_writer(trainer):
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback) and callback.tb_writer is not None:
            return callback.tb_writer
    return None


class AhaTracker(TrainerCallback):
    def __init__(self, tokenizer, task: str, rows=(), reflection_phrases=None, log_samples_every: int = 20,
                 samples_per_log: int = 3):
        self.tokenizer = tokenizer
        self.task = task
        self.accuracy_name = ACCURACY_REWARD_FOR_TASK.get(task)
        self.reflection_phrases = reflection_phrases
        self.log_samples_every = log_samples_every
        self.samples_per_log = samples_per_log
        # Gold columns by prompt text: TRL's completion log keeps prompts, not dataset columns.
        self.targets = {prompt_text(r["prompt"]): r.get("target") for r in rows if "target" in r}
        self.trainer = None
        self._logs_seen = 0
        self._layout_written = False

    def attach(self, trainer):
        """Register first, so the metrics added in ``on_log`` reach TensorBoard's callback too."""
        self.trainer = trainer
        trainer.callback_handler.callbacks.insert(0, self)
        return self

    def batch_metrics(self) -> dict:
        logs = getattr(self.trainer, "_logs", None)
        if not logs or not logs.get("completion"):
            return {}
        completions = [completion_text(c) for c in logs["completion"]]
        prompts = [prompt_text(p) for p in logs["prompt"]]
        lengths = sorted(len(ids) for ids in self.tokenizer(completions, add_special_tokens=False)["input_ids"])
        metrics = {
            "aha/self_check_share": statistics.fmean(has_self_check(t, self.reflection_phrases) for t in completions),
            "aha/length_mean": statistics.fmean(lengths),
            "aha/length_p90": float(lengths[min(len(lengths) - 1, int(0.9 * len(lengths)))]),
        }
        rewards = logs.get("rewards", {})
        for key, name in (("aha/format", "format_reward"), ("aha/accuracy", self.accuracy_name)):
            values = [v for v in rewards.get(name, []) if v == v]  # drop NaN (unscorable rows)
            if values:
                metrics[key] = statistics.fmean(values)
        if self.task == "countdown" and self.targets:
            true = total = 0
            for text, prompt in zip(completions, prompts):
                target = self.targets.get(prompt)
                if target is not None:
                    t, n = countdown_check_claims(text, target)
                    true, total = true + t, total + n
            if total:
                metrics["aha/honest_checks"] = true / total
        return metrics

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.trainer is None or logs is None or "reward" not in logs or not state.is_world_process_zero:
            return
        metrics = self.batch_metrics()
        logs.update(metrics)
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1].update(metrics)
        writer = _tensorboard_writer(self.trainer)
        if writer is None:
            return
        if not self._layout_written:
            writer.add_custom_scalars(AHA_LAYOUT)
            self._layout_written = True
        if self.log_samples_every and self._logs_seen % self.log_samples_every == 0:
            writer.add_text("aha/samples", self.samples_markdown(), state.global_step)
        self._logs_seen += 1

    def samples_markdown(self) -> str:
        logs = self.trainer._logs
        parts = []
        for i in range(min(self.samples_per_log, len(logs["completion"]))):
            rewards = ", ".join(f"{name}={values[i]:.2f}" for name, values in logs["rewards"].items()
                                if i < len(values))
            parts.append(f"**prompt**: `{prompt_text(logs['prompt'][i])[-300:]}`\n\n"
                         f"**completion**: `{completion_text(logs['completion'][i])}`\n\n**rewards**: {rewards}")
        return "\n\n---\n\n".join(parts)
