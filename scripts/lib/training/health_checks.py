"""Health checks, the pure part: each is a small function of the recent training logs and its threshold.

A check reads a ``Context`` (the last ``health_patience`` logs, the ones before them, the run's first logs,
the held-out eval points) and the recipe's ``health_*`` values (``Thresholds``), and returns a ``Finding``
(the numbers, the likely cause, what to change) or None. ``CHECKS`` lists them with their symptoms; the
callback that runs them at each log and raises the alarms is ``scripts/lib/training/health_monitor.py``.
The keys they read are those TRL 1.16 and the tracker write (``frac_reward_zero_std``,
``completions/clipped_ratio``, ``entropy``, ``kl``, ``grad_norm``, ``aha/format``, ``aha/accuracy``,
``aha/length_mean``, ``rewards/<name>/mean``).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

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


# name -> (symptom, check). The order is docs/loop.md's.
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
