"""Health checks (scripts/lib/training/health_checks.py, health_monitor.py) and the reward guard
(scripts/lib/training/reward_guard.py).

* Real short CPU runs on the tiny untrained fixture model (in this process, so they cost seconds):
  a reward that raises while scoring step 3, one that returns one value too few, and a run whose
  completions are all cut off with ``health_stop: true``.
* Every check of the table, driven by the logs of a real 180-step run of ``recipes/cpu_countdown_tiny.yaml`` (make bench-aha, seed 42)
  (``tests/fixtures/health_healthy_run.json``: its training logs as TRL 1.16 and the tracker wrote them,
  trimmed to the keys the checks read), each edited into one symptom from step 30 on; the unedited
  logs raise no alarm.
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import FIXTURES, ROOT
from tb import read_events

RECIPE = str(ROOT / "recipes" / "cpu_countdown_tiny.yaml")
HEALTHY = FIXTURES / "health_healthy_run.json"


def run_args(model_dir, output_dir, *extra) -> list[str]:
    return [
        "--config", RECIPE, "--model_name_or_path", str(model_dir), "--tiny_base_recipe", "",
        "--output_dir", str(output_dir), "--max_steps", "3", "--save_steps", "10",
        "--per_device_train_batch_size", "8", "--num_generations", "4", "--max_completion_length", "8",
        "--holdout_size", "0", "--max_train_samples", "64", "--disable_tqdm", "true", "--logging_steps", "1",
        "--reward_funcs", "format_reward", "countdown_reward", "tests.flaky_reward.flaky_length_reward",
        "--reward_weights", "0.5", "1.0", "1.0", "--preflight", "false", "--log_samples_every", "0", *extra,
    ]


@pytest.fixture()
def train(monkeypatch):
    """``scripts.train.run`` in this process, on a CPU-only view of the machine."""
    from scripts.train import run

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    return run


def trainer_state(path: Path) -> dict:
    return json.loads((path / "trainer_state.json").read_text())


def logged_steps(state: dict) -> list[int]:
    return [e["step"] for e in state["log_history"] if "reward" in e]


# ---------------------------------------------------------------------------- the reward guard, real runs


@pytest.mark.parametrize("mode,error", [
    # the reward divides by zero on every completion of step 3: the first one is named
    ("raise", "raised ZeroDivisionError: division by zero while scoring step 3/3, on completion 1 of 8: '"),
    # the reward drops its last value on step 3: TRL would raise a ValueError mid-step
    ("count", "returned 7 values for 8 completions (one each expected) while scoring step 3/3, on the first of 8: '"),
], ids=["raises", "miscounts"])
def test_a_reward_that_breaks_at_step_3_stops_with_one_line_a_checkpoint_and_resumes(
        mode, error, train, tiny_model_dir, tmp_path, monkeypatch, capsys):
    from scripts.lib.runs.resume import checkpoint_problem

    out = tmp_path / "out"
    monkeypatch.setenv("FLAKY_REWARD", mode)
    assert train(run_args(tiny_model_dir, out)) == 2
    captured = capsys.readouterr()
    lines = captured.err[captured.err.index("error: "):].splitlines()  # after transformers' progress bars
    assert lines[0].startswith(f"error: reward flaky_length_reward {error}"), captured.err
    assert lines[1] == f"stopped by the reward error at step 2/3; saved {out / 'checkpoint-2'}"
    assert lines[2].startswith("resume with: python -m scripts.train --config ")
    assert lines[2].endswith(f"--resume {out / 'checkpoint-2'}")
    assert "Traceback" not in captured.err + captured.out
    # The state after step 2, complete: step 3's update never happened.
    assert checkpoint_problem(out / "checkpoint-2") is None
    assert trainer_state(out / "checkpoint-2")["global_step"] == 2
    assert logged_steps(trainer_state(out / "checkpoint-2")) == [1, 2]
    assert not (out / "model.safetensors").exists()

    monkeypatch.delenv("FLAKY_REWARD")  # the reward is fixed; the same command resumes
    assert train(run_args(tiny_model_dir, out)) == 0
    assert f"resuming from {out / 'checkpoint-2'}" in capsys.readouterr().out
    assert logged_steps(trainer_state(out / "checkpoint-3")) == [1, 2, 3]
    assert (out / "model.safetensors").is_file()


def test_debug_shows_the_reward_traceback():
    from scripts.lib.recipe.cli import run_cli
    from scripts.lib.training.reward_guard import GuardedReward, RewardFailure

    def main(argv):
        GuardedReward(lambda completions, **kw: [1 / 0])(completions=["x"])

    with pytest.raises(RewardFailure) as info:
        run_cli(main, ["--debug"])
    assert isinstance(info.value.__cause__, ZeroDivisionError)


# ---------------------------------------------------------------------------- the reward guard, units


def test_the_guard_names_the_completion_that_raises_on_its_own():
    from scripts.lib.training.reward_guard import GuardedReward, RewardFailure

    def picky(completions, target, **kwargs):
        return [float(int(c) == t) for c, t in zip(completions, target)]

    with pytest.raises(RewardFailure) as info:
        GuardedReward(picky)(completions=["1", "2", "two", "4"], target=[1, 2, 3, 4])
    assert str(info.value) == ("reward picky raised ValueError: invalid literal for int() with base 10: 'two', "
                               "on completion 3 of 4: 'two'")


@pytest.mark.parametrize("returned,message", [
    ([1.0], "returned 1 values for 2 completions"),       # too few
    ([1.0, 0.0, 1.0], "returned 3 values for 2 completions"),  # too many
    (None, "returned a NoneType for 2 completions"),      # forgot to return
    (1.0, "returned a float for 2 completions"),          # one number for the batch
])
def test_the_guard_catches_a_return_that_is_not_one_value_per_completion(returned, message):
    from scripts.lib.training.reward_guard import GuardedReward, RewardFailure

    def reward(completions, **kwargs):
        return returned

    with pytest.raises(RewardFailure, match=message):
        GuardedReward(reward)(completions=["a", "b"])


def test_the_guard_keeps_names_values_and_none_and_pickles():
    from trl.trainer.utils import get_callable_name

    from rewards import get_rewards
    from scripts.lib.training.reward_guard import GuardedReward, guard_rewards

    rewards = get_rewards(["format_reward", "countdown_reward"])
    guarded = guard_rewards(rewards)
    assert all(isinstance(g, GuardedReward) for g in guarded)
    assert [get_callable_name(g) for g in guarded] == [get_callable_name(r) for r in rewards]
    completions = ["<think>1+2=3</think><answer>1+2</answer>", "nope"]
    kwargs = {"target": [3, 3], "nums": [[1, 2], [1, 2]]}
    assert guarded[1](completions=completions, **kwargs) == rewards[1](completions=completions, **kwargs)
    assert GuardedReward(lambda completions, **kw: [None, 1.0])(completions=["a", "b"]) == [None, 1.0]
    assert pickle.loads(pickle.dumps(guarded[0])).__name__ == "format_reward"

    async def judge(completions, **kwargs):
        return [0.0] * len(completions)

    assert guard_rewards([judge])[0] is judge  # TRL runs async rewards itself; left as they are


# ---------------------------------------------------------------------------- health checks, a real run


def terminal_lines(text: str) -> list[str]:
    """The lines a terminal shows for ``text``: a carriage return goes back to the line's start and
    overwrites it (a progress bar redraws itself that way)."""
    shown = []
    for raw in text.split("\n"):
        line = ""
        for part in raw.split("\r"):
            line = part + line[len(part):]
        shown.append(line.rstrip())
    return shown


def test_cut_off_completions_raise_the_alarm_and_health_stop_ends_the_run_at_the_next_checkpoint(
        train, tiny_model_dir, tmp_path, monkeypatch, capsys):
    """The untrained model never reaches EOS in 8 tokens, and scores 0 on every completion."""
    import io

    from scripts.checkpoints import main as checkpoints_main

    out = tmp_path / "out"
    # stdout and stderr in one stream, the progress bar on, as a terminal shows them: each alarm
    # must stand on its own line, not after the bar's last frame.
    console = io.StringIO()
    monkeypatch.setattr(sys, "stdout", console)
    monkeypatch.setattr(sys, "stderr", console)
    code = train(run_args(tiny_model_dir, out, "--reward_funcs", "format_reward", "countdown_reward",
                          "--reward_weights", "0.5", "1.0", "--health_patience", "2", "--health_stop", "true",
                          "--save_steps", "3", "--max_steps", "6", "--disable_tqdm", "false"))
    monkeypatch.undo()
    text = console.getvalue()
    assert code == 3, text[-3000:]
    assert "it/s]" in text or "s/it]" in text, "the progress bar was not drawn"
    shown = [line for line in terminal_lines(text) if "health alarm" in line]
    assert shown and all(line.startswith("health alarm") for line in shown), shown
    lines = [line for line in terminal_lines(text) if line.startswith("health alarm")]
    assert lines[:2] == [
        "health alarm at step 2: groups teach nothing: frac_reward_zero_std 1.00 (>= 0.9 for 2 logged steps); "
        "likely: every completion of a prompt gets the same reward, so advantages and the loss are 0; change: raise "
        "num_generations (now 4), use easier data, or add a shaped reward (format_shaped_reward)",
        "health alarm at step 2: completions cut off: completions/clipped_ratio 1.00 (>= 0.5 for 2 logged steps), "
        "mean_terminated_length 0.0 tokens; likely: completions hit max_completion_length before EOS, so answers "
        "are cut off and score nothing; change: raise max_completion_length (now 8), or set "
        "mask_truncated_completions: true",
    ]
    # health_stop: the lines again, then where it stopped and how to go on.
    assert f"stopped by health_stop (an alarm above) at step 3/6; saved {out / 'checkpoint-3'}" in text
    assert text.count(lines[1]) == 2
    assert logged_steps(trainer_state(out / "checkpoint-3")) == [1, 2, 3]
    assert not (out / "checkpoint-4").exists()

    records = [json.loads(line) for line in (out / "health.jsonl").read_text().splitlines()]
    assert [(r["step"], r["check"], r["line"]) for r in records] == [
        (2, "zero_std_groups", lines[0]), (2, "truncation", lines[1])]
    assert records[1]["values"] == {"clipped_ratio": 1.0, "mean_terminated_length": 0.0}

    events = read_events(out / "runs")
    scalars, texts = events["scalars"], events["texts"]
    assert scalars["health/alarms"] == {1: 0.0, 2: 2.0, 3: 2.0}
    assert texts["health/alarm/text_summary"] == {2: lines[0] + "\n\n" + lines[1]}

    assert checkpoints_main([str(out)]) == 0
    table = capsys.readouterr().out
    assert "| **best accuracy**, health: groups teach nothing (step 2), completions cut off (step 2) |" in table
    assert f"alarm lines: {out / 'health.jsonl'}" in table


# ---------------------------------------------------------------------------- health checks, recorded logs


def healthy_logs() -> list[dict]:
    return json.loads(HEALTHY.read_text())["log_history"]


def drive(entries: list[dict], out: Path, holdout: dict | None = None, **settings):
    """Feed ``entries`` to a HealthMonitor as the Trainer would; ``holdout``: {step: held-out accuracy}."""
    from torch.utils.tensorboard import SummaryWriter
    from transformers import TrainerControl, TrainerState

    from scripts.lib.recipe.arguments import R1ZeroArguments
    from scripts.lib.training.health_checks import Thresholds
    from scripts.lib.training.health_monitor import HealthMonitor

    out.mkdir(parents=True, exist_ok=True)
    recipe = R1ZeroArguments(**settings)
    writer = SummaryWriter(str(out / "runs"))
    every = min(holdout) if holdout else 0
    monitor = HealthMonitor(Thresholds(**recipe.health_thresholds()), writer=writer, holdout_eval_steps=every)
    args = SimpleNamespace(output_dir=str(out), **json.loads(HEALTHY.read_text())["training"])
    state, control = TrainerState(), TrainerControl()
    monitor.on_train_begin(args, state, control)
    for entry in entries:
        state.global_step = entry["step"]
        state.log_history.append(entry)
        if holdout and entry["step"] in holdout:  # HeldOutEvalCallback writes this before the log
            with (out / "eval_history.jsonl").open("a") as handle:
                handle.write(json.dumps({"step": entry["step"], "eval/pass@1_greedy": holdout[entry["step"]]}) + "\n")
        monitor.on_log(args, state, control, logs={k: v for k, v in entry.items() if k != "step"})
    writer.close()
    return monitor


def edited(from_step: int, _from_start: bool = False, **changes) -> list[dict]:
    """The healthy logs with ``changes`` from ``from_step`` on (``a__b``: key ``a/b``; a value, or a function
    of the old one). ``_from_start``: constant values apply from step 1 (functions still from ``from_step``)."""
    logs = healthy_logs()
    for entry in logs:
        for key, change in changes.items():
            if entry["step"] >= from_step or (_from_start and not callable(change)):
                name = key.replace("__", "/")
                entry[name] = change(entry.get(name)) if callable(change) else change
    return logs


SCENARIOS = [
    # (check, logs, held-out points, first alarm step, how its line starts after "health alarm at step N: ")
    ("zero_std_groups", lambda: edited(30, frac_reward_zero_std=1.0), None, 39,
     "groups teach nothing: frac_reward_zero_std 1.00 (>= 0.9 for 10 logged steps)"),
    ("truncation", lambda: edited(30, completions__clipped_ratio=0.8, completions__mean_terminated_length=3.0), None,
     39, "completions cut off: completions/clipped_ratio 0.80 (>= 0.5 for 10 logged steps), mean_terminated_length 3.0"),
    # format learned from the start, accuracy stuck at 0.05: judged over the last 50 logged steps
    ("format_without_accuracy", lambda: edited(1, aha__format=0.97, aha__accuracy=0.05), None, 50,
     "format learned, accuracy flat: format 0.97 (>= 0.9) while accuracy 0.050 at the start -> 0.050 over the last 50 "
     "logged steps (rise < 0.01)"),
    ("length_collapse", lambda: edited(30, aha__length_mean=lambda v: v * 0.05), None, 39, "length collapse: "),
    # completions four times as long while accuracy stays where it started (cut at step 60: later, with the
    # format learned, flat accuracy is the format_without_accuracy alarm too)
    ("length_explosion",
     lambda: edited(30, aha__length_mean=lambda v: v * 4, aha__accuracy=0.1, _from_start=True)[:60],
     None, 39, "length explosion: "),
    ("entropy_collapse", lambda: edited(30, entropy=0.01), None, 39,
     "entropy collapse: entropy 0.0100 nats/token (< 0.05 for 10 logged steps)"),
    ("instability", lambda: edited(30, kl=lambda v: v * 50), None, 39, "KL / grad norm blow-up: kl "),
    # the real run's reward rises; a held-out accuracy that does not (a point every 10 steps)
    ("reward_hacking", healthy_logs, {s: 0.1 for s in range(10, 151, 10)}, None,
     "reward hacking suspicion: train reward "),
    ("reward_missing", lambda: edited(30, rewards__countdown_reward__mean=None, rewards__countdown_reward__std=None),
     None, 39, "reward gives no signal: countdown_reward returned None/NaN for every completion for 10 logged steps"),
]


@pytest.mark.parametrize("check,logs,holdout,step,words", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_each_symptom_raises_its_alarm_once_with_line_tensorboard_and_jsonl(check, logs, holdout, step, words,
                                                                           tmp_path, capsys):
    monitor = drive(logs(), tmp_path, holdout)
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("health alarm")]
    assert [a["check"] for a in monitor.alarms] == [check], printed
    alarm = monitor.alarms[0]
    if step is not None:
        assert alarm["step"] == step
    assert printed == [alarm["line"]]
    assert alarm["line"].startswith(f"health alarm at step {alarm['step']}: {words}"), alarm["line"]
    assert "; likely: " in alarm["line"] and "; change: " in alarm["line"]
    records = [json.loads(line) for line in (tmp_path / "health.jsonl").read_text().splitlines()]
    assert [(r["step"], r["check"], r["line"]) for r in records] == [(alarm["step"], check, alarm["line"])]
    events = read_events(tmp_path / "runs")
    scalars, texts = events["scalars"], events["texts"]
    assert texts["health/alarm/text_summary"] == {alarm["step"]: alarm["line"]}
    assert scalars["health/alarms"][alarm["step"]] == 1.0
    assert scalars["health/alarms"][alarm["step"] - 1] == 0.0


def test_the_real_run_raises_no_alarm(tmp_path, capsys):
    monitor = drive(healthy_logs(), tmp_path)
    assert monitor.alarms == []
    assert "health alarm" not in capsys.readouterr().out
    events = read_events(tmp_path / "runs")
    scalars, texts = events["scalars"], events["texts"]
    assert set(scalars["health/alarms"].values()) == {0.0} and "health/alarm/text_summary" not in texts
    assert not (tmp_path / "health.jsonl").exists()


def test_a_resumed_run_does_not_repeat_the_alarms_of_its_history(tmp_path):
    from transformers import TrainerControl, TrainerState

    from scripts.lib.recipe.arguments import R1ZeroArguments
    from scripts.lib.training.health_checks import Thresholds
    from scripts.lib.training.health_monitor import HealthMonitor

    logs = edited(30, entropy=0.01)  # the alarm was raised at step 39, before the checkpoint at 40
    monitor = HealthMonitor(Thresholds(**R1ZeroArguments().health_thresholds()))
    state = TrainerState(global_step=40, log_history=[e for e in logs if e["step"] <= 40])
    monitor.on_train_begin(SimpleNamespace(output_dir=str(tmp_path)), state, TrainerControl())
    for entry in logs[40:]:
        state.global_step = entry["step"]
        monitor.on_log(None, state, TrainerControl(), logs=dict(entry))
    assert monitor.alarms == []


def test_every_threshold_is_a_recipe_setting():
    from scripts.lib.recipe.arguments import R1ZeroArguments
    from scripts.lib.training.health_checks import CHECKS, Thresholds

    assert set(Thresholds.__dataclass_fields__) == set(R1ZeroArguments().health_thresholds())
    assert len(CHECKS) == 9
