"""Where a GRPO step's time goes: TRL's own ``profiling_context`` timers plus timers on
``training_step``, ``log`` and every callback event, recorded in the training process, then
summarised per step (the first steps left out as warm-up) and cut into non-overlapping parts
(generation, each reward, log-probs, loss, backward, each callback, logging, optimizer) that add
up to the step. Used by `make bench-train` (scripts/bench/train.py)."""

from __future__ import annotations

import statistics
import time

# TRL's profiling names that are not reward functions (everything else it times is one).
_TRL_PARTS = {"_prepare_inputs", "_calculate_rewards", "compute_loss", "_get_per_token_logps_and_entropies",
              "transformers.generate", "transformers.generate_batch", "vLLM.generate", "sync_weights",
              "training_step", "log", "_generate_and_score_completions", "_generate", "_generate_single_turn"}
_GENERATION = {"transformers.generate", "transformers.generate_batch", "vLLM.generate"}
_EVENTS = ("on_step_begin", "on_step_end", "on_log", "on_substep_end", "on_pre_optimizer_step", "on_optimizer_step",
           "on_save", "on_evaluate", "on_epoch_begin", "on_epoch_end")



class Timings:
    """Every timed region of a run as (name, start, seconds), attributed to steps afterwards."""

    def __init__(self):
        self.regions: list[tuple[str, float, float]] = []
        self.step_begins: list[float] = []
        self.step_cpu: list[float] = []
        self.logs: list[dict] = []


def instrument(timings: Timings) -> None:
    """TRL's profiling timers, plus ``training_step``/``log`` and every callback event, into ``timings``.

    Applied the same way in both paths. TRL's ``ProfilingContext`` only reports to wandb/mlflow/
    trackio; here it also records, so the breakdown uses TRL's own cut of a step.
    """
    from transformers import TrainerCallback
    from trl import GRPOTrainer
    from trl.extras import profiling

    original_log_metrics = profiling.ProfilingContext._log_metrics

    def log_metrics(self, duration):
        timings.regions.append((self.name.split(".", 1)[-1], self._start_time, duration))
        original_log_metrics(self, duration)

    profiling.ProfilingContext._log_metrics = log_metrics
    GRPOTrainer.training_step = profiling.profiling_decorator(GRPOTrainer.training_step)
    GRPOTrainer.log = profiling.profiling_decorator(GRPOTrainer.log)

    class StepClock(TrainerCallback):
        def __init__(self, trainer):
            self.trainer = trainer

        def on_train_begin(self, args, state, control, **kwargs):
            # Callbacks attached after the trainer was built (AhaTracker, ...) are in the list by now.
            for callback in self.trainer.callback_handler.callbacks:
                if callback is not self:
                    for event in _EVENTS:
                        setattr(callback, event, _timed(getattr(callback, event), type(callback).__name__, event))

        def on_step_begin(self, args, state, control, **kwargs):
            timings.step_begins.append(time.perf_counter())
            timings.step_cpu.append(time.process_time())

        def on_log(self, args, state, control, logs=None, **kwargs):
            timings.logs.append(dict(logs or {}, step=state.global_step))

    def _timed(method, owner: str, event: str):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                timings.regions.append((f"callback {owner}.{event}", start, time.perf_counter() - start))
        return timed

    original_init = GRPOTrainer.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.add_callback(StepClock(self))

    GRPOTrainer.__init__ = init


def summarise(result: dict, warmup: int) -> dict:
    """Median s/step, tokens/s and a per-part breakdown over the timed steps (after ``warmup``)."""
    begins = result["step_begins"]
    intervals = [b - a for a, b in zip(begins, begins[1:])]
    timed = list(range(warmup, len(intervals)))
    if not timed:
        raise SystemExit(f"error: a run made {len(begins)} steps, too few to time {warmup} warm-up steps + 1 "
                         "(raise --steps or lower --warmup)")
    window = (begins[timed[0]], begins[timed[-1] + 1])
    parts: dict[str, float] = {}
    for name, start, seconds in result["regions"]:
        if window[0] <= start < window[1]:
            parts[name] = parts.get(name, 0.0) + seconds
    n = len(timed)
    parts = {name: total / n for name, total in parts.items()}
    step_s = [intervals[i] for i in timed]
    # CPU seconds of this process: on a shared machine much steadier than wall time, which also
    # counts the time other processes held the cores.
    cpu = result["step_cpu"]
    cpu_s = [cpu[i + 1] - cpu[i] for i in timed]
    # TRL logs completion lengths only for steps that generated: their mean times completions/step.
    lengths = [log["completions/mean_length"] for log in result["logs"]
               if "completions/mean_length" in log and warmup < log["step"] <= timed[-1] + 1]
    mean_length = statistics.fmean(lengths) if lengths else float("nan")
    return {
        "step_s": step_s, "median_s": statistics.median(step_s), "cpu_s": cpu_s, "mean_s": statistics.fmean(step_s),
        "tokens_per_s": mean_length * result["completions_per_step"] / statistics.fmean(step_s),
        "mean_length": mean_length, "all_lengths": [log.get("completions/mean_length") for log in result["logs"]
                                                    if "completions/mean_length" in log],
        "peak_rss_mib": result["peak_rss_mib"], "startup_s": begins[0] - result["started"], "parts": parts,
        "torch_threads": result["torch_threads"],
    }


def breakdown(parts: dict[str, float], step: float) -> list[tuple[str, float]]:
    """Non-overlapping rows that add up to the mean step time."""
    def get(name):
        return parts.get(name, 0.0)

    callbacks: dict[str, float] = {}
    on_log = 0.0
    for name, seconds in parts.items():
        if name.startswith("callback "):
            owner, event = name[len("callback "):].rsplit(".", 1)
            callbacks[owner] = callbacks.get(owner, 0.0) + seconds
            on_log += seconds if event == "on_log" else 0.0
    rewards = {name: s for name, s in parts.items() if name not in _TRL_PARTS and not name.startswith("callback ")}
    generation = sum(get(name) for name in _GENERATION)
    rows = [("generation (model.generate)", generation)]
    rows += [(f"reward: {name}", s) for name, s in sorted(rewards.items())]
    rows.append(("reward bookkeeping (TRL _calculate_rewards)", get("_calculate_rewards") - sum(rewards.values())))
    rows.append(("log-probs (old/reference), advantages",
                 get("_prepare_inputs") - generation - get("_calculate_rewards")))
    rows.append(("loss forward (compute_loss)", get("compute_loss")))
    rows.append(("backward", get("training_step") - get("_prepare_inputs") - get("compute_loss")))
    rows += [(f"callback: {owner}", s) for owner, s in sorted(callbacks.items(), key=lambda kv: -kv[1])]
    rows.append(("logging (TRL metrics, completions table)", get("log") - on_log))
    rows.append(("optimizer, grad clip, next batch, rest",
                 step - get("training_step") - get("log") - (sum(callbacks.values()) - on_log)))
    return rows


def mean_breakdown(runs: list[dict]) -> dict[str, float]:
    table: dict[str, list[float]] = {}
    for run in runs:
        for name, seconds in breakdown(run["parts"], run["mean_s"]) + [("total step", run["mean_s"])]:
            table.setdefault(name, []).append(seconds)
    # Median over runs: one run hit by another process's burst must not skew the picture.
    return {name: statistics.median(values) for name, values in table.items()}

