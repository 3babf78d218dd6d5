"""The aha tracker: TensorBoard tags, dashboard layout, text samples, and the aha-step heuristic.

The run-based checks share one 3-step training run (``tracked_run`` in conftest.py); the heuristic
and the per-batch metrics are checked on hand-made inputs with exact expected values.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from scripts.lib.measure.aha import ACCURACY_KEY, REFLECTION_KEY, AhaDetector, detect_aha
from tb import read_events

TRACKER_SCALARS = ["train/aha/self_check_share", "train/aha/format", "train/aha/accuracy",
                   "train/aha/length_mean", "train/aha/length_p90",
                   # does reflection pay, Countdown's tries (an untrained model never self-checks, so the
                   # self-checking accuracy and the ratio are undefined and not logged)
                   "train/aha/accuracy_not_checking", "train/aha/tries_mean", "train/aha/first_try_accuracy",
                   "train/aha/final_accuracy", "train/aha/wrong_to_right", "train/aha/right_to_wrong"]


@pytest.fixture(scope="module")
def events(tracked_run):
    return read_events(tracked_run[0] / "runs")


def log_history(run: Path) -> list[dict]:
    return json.loads((run / "trainer_state.json").read_text())["log_history"]


# ---------------------------------------------------------------------------- the real run


def test_tracker_scalars_are_in_tensorboard_at_every_logging_step_with_the_logged_values(tracked_run, events):
    run, _ = tracked_run
    logged = {e["step"]: e for e in log_history(run) if "reward" in e}
    assert sorted(logged) == [1, 2, 3]
    for tag in TRACKER_SCALARS:
        assert tag in events["scalars"], f"{tag} missing; have {sorted(events['scalars'])}"
        key = tag.removeprefix("train/")
        # TensorBoard stores float32; trainer_state.json keeps the float64 the tracker computed.
        assert events["scalars"][tag] == pytest.approx({s: logged[s][key] for s in logged}, abs=1e-6), tag


def test_dashboard_charts_match_the_tags_tensorboard_really_has(events):
    # The custom-scalars plugin matches each chart regex with re.match against the full tag.
    assert len(events["layouts"]) == 1, "the layout is written once per run"
    tags = set(events["scalars"])
    charts = {chart.title: list(chart.multiline.tag) for chart in events["layouts"][0].category[0].chart}
    matched = {title: {t for t in tags if any(re.match(rx, t) for rx in regexes)} for title, regexes in charts.items()}
    assert matched["reward (weighted total)"] == {"train/reward"}
    assert matched["reward means, one per reward function"] == {"train/rewards/format_reward/mean",
                                                                "train/rewards/countdown_reward/mean"}
    assert matched["accuracy"] == {"train/aha/accuracy"}
    assert matched["format rate"] == {"train/aha/format"}
    # one tag per chart, so no two lines of a run share a chart in the same colour
    assert all(len(regexes) == 1 for title, regexes in charts.items() if title != "reward means, one per reward function")
    assert matched["completion length: mean (tokens)"] == {"train/aha/length_mean"}
    assert matched["completion length: 90th percentile (tokens)"] == {"train/aha/length_p90"}
    assert matched["self-check share"] == {"train/aha/self_check_share"}
    # honest_checks is logged only when a completion makes a checkable claim (none do when untrained)
    assert matched["Countdown: wrong->right rate"] == {"train/aha/wrong_to_right"}
    assert matched["Countdown: right->wrong rate"] == {"train/aha/right_to_wrong"}
    assert matched["Countdown: first-try accuracy"] == {"train/aha/first_try_accuracy"}
    assert matched["Countdown: final accuracy"] == {"train/aha/final_accuracy"}
    on_dashboard = set().union(*matched.values())
    assert {t for t in tags if t.startswith("train/aha/")} <= on_dashboard


def test_completion_samples_are_tensorboard_text_every_n_steps(events):
    samples = events["texts"]["aha/samples/text_summary"]
    assert sorted(samples) == [1, 3]  # log_samples_every 2: the first log, then 2 steps later
    for step, text in samples.items():
        assert text.startswith(f"step {step}: 2 of 8 completions")
        assert text.count("**prompt**") == 2 and text.count("**completion**") == 2
        assert "User: numbers" in text and "Assistant:" in text
        assert text.count("format_reward = ") == 2 and text.count("countdown_reward = ") == 2


def test_aha_step_is_announced_once_on_console_tensorboard_and_run_info(tracked_run, events):
    run, stdout = tracked_run
    # margins of -1 make the heuristic fire: baseline step 1, rise from step 2, confirmed at step 3
    assert stdout.count("aha step 2 (heuristic, confirmed at step 3 after 2 logged steps)") == 1
    assert sorted(events["texts"]["aha/aha_step/text_summary"]) == [3]
    assert "aha step 2" in events["texts"]["aha/aha_step/text_summary"][3]
    info = json.loads((run / "run_info.json").read_text())
    assert info["aha"] == {"step": 2, "confirmed_at": 3}
    assert info["tracker"]["aha"] == {"baseline_steps": 1, "reflection_margin": -1.0, "accuracy_margin": -1.0,
                                      "window": 2, "smoothing": 1, "wrong_to_right_margin": -1.0}
    assert info["recipe"].endswith("recipes/cpu_countdown_tiny.yaml")
    assert info["reward_funcs"] == ["format_reward", "countdown_reward"] and info["reward_weights"] == [0.5, 1.0]
    assert info["training"]["max_completion_length"] == 12 and info["training"]["max_steps"] == 3


def test_length_is_counted_as_trl_counts_it(events):
    # one optimizer step per generation here, so the tracker's mean is TRL's own completions/mean_length
    scalars = events["scalars"]
    assert scalars["train/aha/length_mean"] == scalars["train/completions/mean_length"]
    for step, p90 in scalars["train/aha/length_p90"].items():
        assert scalars["train/completions/min_length"][step] <= p90 <= scalars["train/completions/max_length"][step]


def test_final_trainer_state_holds_the_whole_history(tracked_run):
    run, _ = tracked_run
    assert [e["step"] for e in log_history(run) if "reward" in e] == [1, 2, 3]


# ---------------------------------------------------------------------------- per-batch metrics


def completion_masks(*lengths_per_step: list[int], width: int = 30) -> list[dict]:
    """GRPOTrainer's buffered inputs: one dict per optimizer step, right-padded completion masks."""
    import torch

    return [{"completion_mask": torch.tensor([[1] * n + [0] * (width - n) for n in lengths])}
            for lengths in lengths_per_step]


def tracker_on(logs: dict, rows=(), buffered=(), **args):
    from scripts.lib.training.aha_tracker import AhaTracker

    tracker = AhaTracker("countdown", rows, log_samples_every=1, samples_per_log=2,
                         aha_settings={"baseline_steps": 1, "reflection_margin": 0.1, "accuracy_margin": 0.1,
                                       "window": 1, "smoothing": 1})
    tracker.trainer = SimpleNamespace(_logs=logs, _buffered_inputs=list(buffered), args=SimpleNamespace(**args))
    return tracker


def test_batch_metrics_exact_values():
    prompts = ["P1", "P1", "P2", "P2"]
    completions = [
        "<think> 3 + 3 = 6 wait 6 != 18 ; 6 * 3 = 18 ok </think> <answer> ( 3 + 3 ) * 3 </answer>",  # 4 true claims
        "<think> guess </think> <answer> 7 </answer>",                                     # no self-check
        "Let me check : 2 * 5 = 11 ok",                  # self-check; 2*5 is not 11, 11 is not the target 10
        "the waiter said 5",                             # "waiter" is not "wait"
    ]
    logs = {"prompt": prompts, "completion": completions,
            "rewards": {"format_reward": [1.0, 1.0, 0.0, 0.0], "countdown_reward": [1.0, 0.0, float("nan"), 0.0]}}
    rows = [{"prompt": "P1", "target": 18}, {"prompt": "P2", "target": 10}]
    # two optimizer steps per generation batch: the lengths come from both halves' masks
    metrics = tracker_on(logs, rows, completion_masks([27, 6], [10, 4])).batch_metrics()
    assert metrics == {
        "aha/self_check_share": 0.5,
        "aha/length_mean": (27 + 6 + 10 + 4) / 4,
        "aha/length_p90": 27.0,          # nearest rank: ceil(0.9 * 4) = the 4th smallest of 4
        "aha/format": 0.5,
        "aha/accuracy": pytest.approx(1 / 3),   # the NaN (unscorable) row is left out, not counted as 0
        "aha/honest_checks": 4 / 6,      # 4 true of 4 in the first, 0 of 2 in the third
        # does self-checking pay: the first (right) and third (unscorable) check, the 2nd and 4th are wrong;
        # the ratio over a rest accuracy of 0 is undefined, so not logged
        "aha/accuracy_self_checking": 1.0,
        "aha/accuracy_not_checking": 0.0,
        # tries: the first has two (6, then 6 * 3 = 18: a hit), the third one wrong try, the others none
        "aha/tries_mean": 0.75,
        "aha/first_try_accuracy": 0.0,
        "aha/final_accuracy": pytest.approx(1 / 3),
        "aha/wrong_to_right": 0.25,      # the first: first try 6, answer right
        "aha/right_to_wrong": 0.0,
        # no search (a failed `vs` check, then another try) in the batch: the keyword self-checks are not
        # searches, so searches_without_hit is undefined and not logged
    }


def test_format_rate_follows_the_recipes_format_reward():
    logs = {"prompt": ["P"] * 2, "completion": ["a", "b"],
            "rewards": {"format_shaped_reward": [0.25, 0.75], "countdown_reward": [0.0, 1.0]}}
    metrics = tracker_on(logs).batch_metrics()
    assert (metrics["aha/format"], metrics["aha/accuracy"]) == (0.5, 0.5)


def test_truncated_completions_masked_by_trl_count_as_max_length():
    logs = {"prompt": ["P"] * 10, "completion": ["x"] * 10, "rewards": {}}
    # mask_truncated_completions zeroes a truncated completion's mask; it was cut at max_completion_length
    lengths = [3, 4, 5, 6, 7, 8, 9, 10, 0, 0]
    tracker = tracker_on(logs, (), completion_masks(lengths), mask_truncated_completions=True, max_completion_length=30)
    metrics = tracker.batch_metrics()
    assert metrics["aha/length_mean"] == (52 + 60) / 10
    assert metrics["aha/length_p90"] == 30.0
    untouched = tracker_on(logs, (), completion_masks(lengths), mask_truncated_completions=False).batch_metrics()
    assert untouched["aha/length_mean"] == 5.2 and untouched["aha/length_p90"] == 9.0


def test_batch_metrics_is_empty_before_the_first_generation():
    assert tracker_on({"prompt": [], "completion": [], "rewards": {}}).batch_metrics() == {}


def test_resumed_run_replays_the_saved_history_into_the_detector(capsys):
    tracker = tracker_on({"prompt": [], "completion": [], "rewards": {}})
    history = [{"step": 1, REFLECTION_KEY: 0.1, ACCURACY_KEY: 0.1, "reward": 0.0},
               {"step": 2, REFLECTION_KEY: 0.5, ACCURACY_KEY: 0.5, "reward": 0.0}]
    tracker.trainer = None  # run_info.json is written only when attached to a trainer
    tracker.on_train_begin(SimpleNamespace(), SimpleNamespace(log_history=history, is_world_process_zero=True), None)
    assert tracker.detector.result.step == 2
    assert "aha step 2 (heuristic, confirmed at step 2" in capsys.readouterr().out


# ---------------------------------------------------------------------------- the aha heuristic

SETTINGS = {"baseline_steps": 4, "reflection_margin": 0.2, "accuracy_margin": 0.1, "window": 3, "smoothing": 1}


def history(reflection: list[float], accuracy: list[float], first_step: int = 10, every: int = 10) -> list[dict]:
    return [{"step": first_step + i * every, REFLECTION_KEY: r, ACCURACY_KEY: a, "reward": 0.0}
            for i, (r, a) in enumerate(zip(reflection, accuracy))]


def test_aha_detected_at_the_first_step_of_the_sustained_rise():
    # baseline (steps 10-40): share 0.2, accuracy 0.1; from step 60 both up by more than the margins
    h = history([0.2, 0.2, 0.2, 0.2, 0.25, 0.5, 0.6, 0.6, 0.7], [0.1, 0.1, 0.1, 0.1, 0.1, 0.3, 0.3, 0.35, 0.4])
    found = detect_aha(h, **SETTINGS)
    assert (found.step, found.confirmed_at) == (60, 80)
    assert (found.baseline_reflection, found.baseline_accuracy) == pytest.approx((0.2, 0.1))


def test_no_aha_when_only_one_curve_rises_or_nothing_moves():
    flat = history([0.2] * 12, [0.1] * 12)
    only_reflection = history([0.2] * 4 + [0.9] * 8, [0.1] * 12)   # "wait" spam, no accuracy gain
    only_accuracy = history([0.2] * 4 + [0.2] * 8, [0.1] * 4 + [0.6] * 8)  # better guessing, no checks
    for h in (flat, only_reflection, only_accuracy):
        assert detect_aha(h, **SETTINGS) is None


def test_a_noisy_spike_does_not_count_but_the_later_sustained_rise_does():
    # step 60-70: both spike for two logs (shorter than the window), fall back; the real rise starts at 110
    reflection = [0.2] * 4 + [0.2, 0.9, 0.9, 0.2, 0.2, 0.2, 0.5, 0.5, 0.5, 0.5]
    accuracy = [0.1] * 4 + [0.1, 0.5, 0.5, 0.1, 0.1, 0.1, 0.3, 0.3, 0.3, 0.3]
    assert detect_aha(history(reflection, accuracy), **SETTINGS).step == 110


def test_smoothing_keeps_a_single_spike_from_counting_and_delays_a_real_rise_by_design():
    settings = {**SETTINGS, "window": 4, "smoothing": 3}
    spike = history([0.2] * 4 + [2.0] + [0.2] * 7, [0.1] * 4 + [1.0] + [0.1] * 7)
    assert detect_aha(spike, **settings) is None  # in the 3-log mean for 3 logs < window 4
    # a clean step up at the 5th log (step 50): the 3-log means are (0.2+0.2+0.6)/3 = 0.33 < 0.4 there,
    # (0.2+0.6+0.6)/3 = 0.47 and (0.1+0.3+0.3)/3 = 0.23 >= 0.2 one log later -> step 60, confirmed at 90
    rise = history([0.2] * 4 + [0.6] * 6, [0.1] * 4 + [0.3] * 6)
    found = detect_aha(rise, **settings)
    assert (found.step, found.confirmed_at) == (60, 90)


def test_logs_without_both_metrics_and_non_finite_values_are_skipped():
    h = history([0.2] * 4 + [0.6] * 3, [0.1] * 4 + [0.4] * 3)
    h.insert(5, {"step": 55, "train_runtime": 12.0})           # the trainer's summary log
    h.insert(6, {"step": 56, REFLECTION_KEY: 0.0, ACCURACY_KEY: None})  # TRL: no scorable row in the batch
    h.insert(7, {"step": 57, REFLECTION_KEY: math.nan, ACCURACY_KEY: 0.0})
    assert detect_aha(h, **SETTINGS).step == 50


def test_detector_reports_once():
    detector = AhaDetector(**{**SETTINGS, "baseline_steps": 1, "window": 1})
    assert detector.update(1, 0.0, 0.0) is None
    assert detector.update(2, 1.0, 1.0).step == 2
    assert detector.update(3, 1.0, 1.0) is None and detector.result.step == 2


@pytest.mark.parametrize("flag, value, message", [
    ("--aha_window", "0", "aha_window must be at least 1, got 0"),
    ("--aha_smoothing", "0", "aha_smoothing must be at least 1, got 0"),
    ("--log_samples_every", "-1", "log_samples_every must be >= 0 (0: never), got -1"),
])
def test_bad_tracker_settings_are_one_line_recipe_errors(flag, value, message):
    from conftest import ROOT
    from scripts.lib.recipe.cli import RecipeError
    from scripts.lib.recipe.parsing import parse_recipe

    with pytest.raises(RecipeError) as err:
        parse_recipe(["--config", str(ROOT / "recipes" / "cpu_countdown_tiny.yaml"), flag, value])
    assert str(err.value) == message


# ---------------------------------------------------------------------------- console


def test_training_console_prints_one_line_per_logged_step(tracked_run):
    _, stdout = tracked_run
    lines = stdout.splitlines()
    steps = [line for line in lines if line.startswith("step ")]
    # logging_steps 1, max_steps 3: one line per logged step, in order, each with its numbers
    assert [line.split(" | ")[0] for line in steps] == ["step 1/3", "step 2/3", "step 3/3"], stdout
    assert all(" | reward " in line and " | acc " in line for line in steps), steps
    # not the Trainer's own dict per log, nor a line per checkpoint save (save_steps 1)
    assert not any(line.lstrip().startswith("{") for line in lines), stdout
    assert "Writing model shards" not in stdout
    assert sum(line.startswith("train: ") for line in lines) == 1


def test_console_log_writes_each_logged_step_once_above_the_progress_bar(capsys):
    from scripts.lib.training.console_log import ConsoleLog

    console = ConsoleLog(show_bar=True)
    state = SimpleNamespace(is_world_process_zero=True, max_steps=4, global_step=0)
    args = SimpleNamespace()
    console.on_train_begin(args, state, None)
    for step in range(1, 5):
        state.global_step = step
        console.on_step_end(args, state, None)
        console.on_log(args, state, None, logs={"reward": step / 4, "aha/accuracy": 0.5, "kl": 0.001, "loss": 0.1})
        console.on_log(args, state, None, logs={"loss": 0.1})  # a log without a reward: nothing printed
    console.on_log(args, state, None, logs={"train_runtime": 12.0, "train_steps_per_second": 0.33})
    console.on_train_end(args, state, None)
    out = capsys.readouterr().out.splitlines()
    assert out == ["step 1/4 | reward 0.250 | acc 0.500 | kl 0.0010",
                   "step 2/4 | reward 0.500 | acc 0.500 | kl 0.0010",
                   "step 3/4 | reward 0.750 | acc 0.500 | kl 0.0010",
                   "step 4/4 | reward 1.000 | acc 0.500 | kl 0.0010",
                   "train: 12 s, 0.33 steps/s"]
    # another process of a multi-GPU run prints nothing
    state.is_world_process_zero = False
    ConsoleLog(show_bar=False).on_log(args, state, None, logs={"reward": 1.0})
    assert capsys.readouterr().out == ""
