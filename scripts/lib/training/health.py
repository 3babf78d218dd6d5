"""Live health checks: a run that has stopped learning says so while it runs, in one line.

``HealthMonitor`` (a ``TrainerCallback``) reads each training log TRL 1.16 and the tracker already
write (``frac_reward_zero_std``, ``completions/clipped_ratio``, ``entropy``, ``kl``, ``grad_norm``,
``aha/format``, ``aha/accuracy``, ``aha/length_mean``, ``rewards/<name>/mean``, and the held-out
``eval/…`` points of ``holdout_eval_steps``). Each check below is a small pure function of the
recent logs and its threshold (``health_*`` in the recipe); when its condition has held for
``health_patience`` logged steps (format learned / accuracy flat: judged over ``health_flat_logs``; reward
hacking: at the held-out eval points) it raises an alarm, once, until the condition clears:

* one console line: the symptom, the numbers, the likely cause, what to change;
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
import math
import statistics
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from transformers import TrainerCallback

from scripts.lib.process.console import say
from scripts.lib.runs.run_control import agreed_max, stop_report
from scripts.lib.runs.run_files import EVAL_HISTORY, HEALTH, read_jsonl
from scripts.lib.training.tracking import tensorboard_writer

HELDOUT_KEYS = ("eval/pass@1_greedy", "eval/pass@1")
FORMAT_KEYS = ("aha/format", "rewards/format_reward/mean")
ACCURACY_KEYS = ("aha/accuracy",)
LENGTH_KEYS = ("aha/length_mean", "completions/mean_length")


# ---------------------------------------------------------------------------- thresholds


@dataclass(frozen=True)
class Thresholds:
    """The recipe's ``health_*`` values (defaults live in ``R1ZeroArguments`` only)."""

    patience: int
    zero_std_frac: float
    clipped_ratio: float
    format_learned: float
    flat_logs: int
    accuracy_rise: float
    length_collapse: float
    length_growth: float
    entropy_floor: float
    spike_factor: float
    hacking_reward_rise: float


@dataclass
class Finding:
    numbers: str                 # what was measured, with the threshold it crossed
    cause: str
    change: str
    values: dict = field(default_factory=dict)


@dataclass
class Context:
    """What a check sees: the last ``patience`` training logs, the ones before them, the run's start."""

    window: list[dict]           # the last `patience` training logs (oldest first)
    before: list[dict]           # up to `patience` logs before the window
    history: list[dict]          # the last max(2 x patience, flat_logs) logs, window included
    start: list[dict]            # the run's first `patience` training logs
    heldout: list[tuple[int, float, float]]  # (step, held-out accuracy, train reward then) per eval point
    run: dict                    # a few GRPOConfig values for the advice
    t: Thresholds


# ---------------------------------------------------------------------------- helpers


def value(entry: dict, keys) -> float | None:
    """The first of ``keys`` in ``entry`` as a finite float, else None."""
    for key in (keys,) if isinstance(keys, str) else keys:
        v = entry.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            return float(v)
    return None


def series(entries: list[dict], keys) -> list[float] | None:
    """``keys`` in every entry, or None if any entry lacks it."""
    out = [value(e, keys) for e in entries]
    return None if not out or any(v is None for v in out) else out


def _mean(values) -> float:
    return statistics.fmean(values)


def _now(run: dict, key: str) -> str:
    return f" (now {run[key]})" if run.get(key) is not None else ""


# ---------------------------------------------------------------------------- the checks


def zero_std_groups(c: Context) -> Finding | None:
    frac = series(c.window, "frac_reward_zero_std")
    if frac is None or min(frac) < c.t.zero_std_frac:
        return None
    return Finding(
        f"frac_reward_zero_std {_mean(frac):.2f} (>= {c.t.zero_std_frac:g} for {len(frac)} logged steps)",
        "every completion of a prompt gets the same reward, so advantages and the loss are 0",
        f"raise num_generations{_now(c.run, 'num_generations')}, use easier data, or add a shaped reward "
        "(format_shaped_reward)",
        {"frac_reward_zero_std": _mean(frac)})


def truncation(c: Context) -> Finding | None:
    clipped = series(c.window, "completions/clipped_ratio")
    if clipped is None or min(clipped) < c.t.clipped_ratio:
        return None
    terminated = series(c.window, "completions/mean_terminated_length")
    term = f", mean_terminated_length {_mean(terminated):.1f} tokens" if terminated else ""
    return Finding(
        f"completions/clipped_ratio {_mean(clipped):.2f} (>= {c.t.clipped_ratio:g} for {len(clipped)} logged steps)"
        + term,
        "completions hit max_completion_length before EOS, so answers are cut off and score nothing",
        f"raise max_completion_length{_now(c.run, 'max_completion_length')}, or set mask_truncated_completions: true",
        {"clipped_ratio": _mean(clipped), "mean_terminated_length": _mean(terminated) if terminated else None})


def format_without_accuracy(c: Context) -> Finding | None:
    """Format learned (mean over the last ``flat_logs`` logs) while accuracy is still where the run started."""
    recent = c.history[-c.t.flat_logs:]
    fmt, acc, acc_start = series(recent, FORMAT_KEYS), series(recent, ACCURACY_KEYS), series(c.start, ACCURACY_KEYS)
    if fmt is None or acc is None or acc_start is None or len(recent) < c.t.flat_logs:
        return None
    rise = _mean(acc) - _mean(acc_start)
    if _mean(fmt) < c.t.format_learned or rise >= c.t.accuracy_rise:
        return None
    return Finding(
        f"format {_mean(fmt):.2f} (>= {c.t.format_learned:g}) while accuracy {_mean(acc_start):.3f} at the start -> "
        f"{_mean(acc):.3f} over the last {len(acc)} logged steps (rise < {c.t.accuracy_rise:g})",
        "the format reward is earned without correct answers: the accuracy reward may be too strict, or the task "
        "too hard",
        "check the accuracy reward on logged samples (TensorBoard aha/samples); lower the format weight in "
        f"reward_weights{_now(c.run, 'reward_weights')}, or use easier data",
        {"format": _mean(fmt), "accuracy": _mean(acc), "accuracy_start": _mean(acc_start)})


def length_collapse(c: Context) -> Finding | None:
    length, start = series(c.window, LENGTH_KEYS), series(c.start, LENGTH_KEYS)
    if length is None or start is None or len(c.start) < len(c.window):
        return None
    floor = c.t.length_collapse * _mean(start)
    if max(length) >= floor:
        return None
    return Finding(
        f"mean completion length {_mean(length):.1f} tokens vs {_mean(start):.1f} at the start "
        f"(< {c.t.length_collapse:g}x for {len(length)} logged steps)",
        "the policy is shortening its completions: a reward or loss that favours short answers",
        f"check loss_type{_now(c.run, 'loss_type')} (dr_grpo and dapo have no length bias), raise beta"
        f"{_now(c.run, 'beta')}, or look for a reward that pays for short completions",
        {"length": _mean(length), "length_start": _mean(start)})


def length_explosion(c: Context) -> Finding | None:
    length, start = series(c.window, LENGTH_KEYS), series(c.start, LENGTH_KEYS)
    acc, acc_start = series(c.window, ACCURACY_KEYS), series(c.start, ACCURACY_KEYS)
    if length is None or start is None or acc is None or acc_start is None or len(c.start) < len(c.window):
        return None
    if min(length) < c.t.length_growth * _mean(start) or _mean(acc) - _mean(acc_start) >= c.t.accuracy_rise:
        return None
    return Finding(
        f"mean completion length {_mean(length):.1f} tokens vs {_mean(start):.1f} at the start "
        f"(>= {c.t.length_growth:g}x for {len(length)} logged steps) while accuracy {_mean(acc_start):.3f} -> "
        f"{_mean(acc):.3f}",
        "completions grow without getting more right: rambling or repetition that the loss does not penalise",
        f"loss_type dr_grpo or dapo{_now(c.run, 'loss_type')}, beta > 0{_now(c.run, 'beta')}, a "
        "repetition_penalty_reward, or a lower max_completion_length",
        {"length": _mean(length), "length_start": _mean(start), "accuracy": _mean(acc)})


def entropy_collapse(c: Context) -> Finding | None:
    entropy = series(c.window, "entropy")
    if entropy is None or max(entropy) >= c.t.entropy_floor:
        return None
    return Finding(
        f"entropy {_mean(entropy):.4f} nats/token (< {c.t.entropy_floor:g} for {len(entropy)} logged steps)",
        "the policy has become near-deterministic, so a group's completions stop differing",
        f"raise temperature{_now(c.run, 'temperature')}, set top_entropy_quantile: 0.2, or lower learning_rate"
        f"{_now(c.run, 'learning_rate')}",
        {"entropy": _mean(entropy)})


def instability(c: Context) -> Finding | None:
    """KL or grad norm ``spike_factor`` x its median over the logs before, for the whole window."""
    jumps = []
    for key in ("kl", "grad_norm"):
        now, before = series(c.window, key), series(c.before, key)
        if now is None or before is None or len(before) < len(now):
            continue
        reference = statistics.median(before)
        if reference > 0 and min(now) >= c.t.spike_factor * reference:
            jumps.append((key, _mean(now), reference))
    if not jumps:
        return None
    return Finding(
        ", ".join(f"{key} {now:.4g} vs {ref:.4g} before (x{now / ref:.0f})" for key, now, ref in jumps)
        + f" (>= {c.t.spike_factor:g}x for {len(c.window)} logged steps)",
        "the policy is moving away from the reference too fast: updates too large for this model",
        f"lower learning_rate{_now(c.run, 'learning_rate')}, raise beta{_now(c.run, 'beta')}, or lower max_grad_norm"
        f"{_now(c.run, 'max_grad_norm')}",
        {key: now for key, now, _ in jumps})


def reward_hacking(c: Context) -> Finding | None:
    """Training reward up while held-out accuracy (``holdout_eval_steps``) is not."""
    if len(c.heldout) < 2:
        return None
    (first_step, first_acc, first_reward), (step, acc, reward) = c.heldout[0], c.heldout[-1]
    if reward - first_reward < c.t.hacking_reward_rise or acc - first_acc >= c.t.accuracy_rise:
        return None
    return Finding(
        f"train reward {first_reward:.3f} -> {reward:.3f} (rise >= {c.t.hacking_reward_rise:g}) while held-out "
        f"accuracy {first_acc:.3f} -> {acc:.3f} (steps {first_step} -> {step})",
        "the policy earns reward without solving more held-out problems: a reward that can be gamed",
        "inspect samples (TensorBoard aha/samples) for what scores, and tighten the reward that pays for it",
        {"reward": reward, "reward_first": first_reward, "heldout": acc, "heldout_first": first_acc})


def reward_missing(c: Context) -> Finding | None:
    """A reward that returned None (or NaN) for every completion of every batch in the window."""
    names = sorted({k[len("rewards/"):-len("/mean")] for e in c.window for k in e
                    if k.startswith("rewards/") and k.endswith("/mean")})
    dead = [n for n in names if all(value(e, f"rewards/{n}/mean") is None for e in c.window)]
    if not dead:
        return None
    return Finding(
        f"{', '.join(dead)} returned None/NaN for every completion for {len(c.window)} logged steps",
        "the reward cannot score these completions (wrong dataset columns, a parser that never matches), so it "
        "gives no signal",
        "call the reward on a few logged completions (make preflight ARGS=\"--samples 16\"), and fix its inputs",
        {"rewards": dead})


# name -> (symptom, check). The order is the README's.
CHECKS = {
    "zero_std_groups": ("groups teach nothing", zero_std_groups),
    "truncation": ("completions cut off", truncation),
    "format_without_accuracy": ("format learned, accuracy flat", format_without_accuracy),
    "length_collapse": ("length collapse", length_collapse),
    "length_explosion": ("length explosion", length_explosion),
    "entropy_collapse": ("entropy collapse", entropy_collapse),
    "instability": ("KL / grad norm blow-up", instability),
    "reward_hacking": ("reward hacking suspicion", reward_hacking),
    "reward_missing": ("reward gives no signal", reward_missing),
}

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
            self.heldout.append((step, accuracy, _mean(rewards)))

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
            kept = [r for r in read_jsonl(path) if r.get("step", 0) <= state.global_step]
            path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
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
