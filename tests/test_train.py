"""End to end: the CPU recipe on a tiny local model writes checkpoints and TensorBoard curves."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import ROOT, train_command
from tb import read_events

RECIPE = str(ROOT / "recipes" / "cpu_countdown_tiny.yaml")


def quick_run_args(model_dir, output_dir, *extra) -> list[str]:
    """The default recipe, shrunk to seconds: the tiny untrained model, 2 steps, short completions."""
    return [
        "--config", RECIPE, "--model_name_or_path", str(model_dir), "--tiny_base_recipe", "",
        "--output_dir", str(output_dir), "--max_steps", "2", "--save_steps", "1",
        "--per_device_train_batch_size", "8", "--num_generations", "4", "--max_completion_length", "12",
        "--holdout_size", "4", "--max_train_samples", "64", "--disable_tqdm", "true", *extra,
    ]


@pytest.fixture(scope="module")
def quick_run(tiny_model_dir, tmp_path_factory):
    import os
    import sys

    out = tmp_path_factory.mktemp("run") / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(train_command(*quick_run_args(tiny_model_dir, out)), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    del sys
    return out, proc.stdout


def test_run_writes_a_checkpoint_per_save_step_and_the_final_model(quick_run):
    out, _ = quick_run
    assert (out / "checkpoint-1" / "trainer_state.json").is_file()
    assert (out / "checkpoint-2" / "model.safetensors").is_file()
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()


def test_tensorboard_has_rewards_total_reward_length_and_tracker_curves(quick_run):
    out, _ = quick_run
    logged = read_events(out)
    scalars = logged["scalars"]
    for tag in ["train/reward", "train/rewards/format_reward/mean", "train/rewards/countdown_reward/mean",
                "train/completions/mean_length", "train/aha/self_check_share", "train/aha/length_mean",
                "train/aha/format", "train/aha/accuracy"]:
        assert tag in scalars, f"{tag} missing; have {sorted(scalars)}"
        assert len(scalars[tag]) == 2, tag  # logging_steps: 1, two steps
    assert [tag for tag in logged["texts"] if "samples" in tag], "no completion samples logged as TensorBoard text"


def test_run_prints_before_after_table_and_where_things_are(quick_run):
    out, stdout = quick_run
    assert "| held-out (n=4) | before | after |" in stdout
    assert "format rate" in stdout and "self-check share" in stdout
    # the revision rows (Countdown): the same numbers as make eval and held_out.json
    for label in ("| accuracy, not self-checking |", "| tries per completion |", "| first-try accuracy |",
                  "| wrong->right rate |", "| right->wrong rate |", "| true hit inside <think> |",
                  "| final ok true (searches stopping on ok) |", "| searches without a true hit |"):
        assert label in stdout, label
    assert "\nbefore: reflection audit (4 completions): reflection " in stdout
    assert "\nexample, held-out problem " in stdout   # the fair witness, with its numbers and target
    held_out = json.loads((out / "held_out.json").read_text())
    for key in ("self_check", "accuracy_rest", "tries_mean", "first_try_accuracy", "wrong_to_right",
                "right_to_wrong", "hit_in_think", "format", "accuracy", "mean_length"):
        assert key in held_out["before"] and key in held_out["after"], key
    assert held_out["verdict_after"].startswith("reflection audit (4 completions): reflection ")
    assert f"checkpoints: {out}/checkpoint-*" in stdout
    # one compact line per step, not the Trainer's metrics dict
    assert "step 2/2 | reward " in stdout and "'completions/mean_length'" not in stdout
