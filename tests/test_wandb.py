"""`report_to: [tensorboard, wandb]` logs the same train/aha/* scalars and samples to Weights & Biases
(offline: WANDB_MODE=offline, nothing leaves the machine). Skipped when wandb is not installed."""

from __future__ import annotations

import pytest

from conftest import ROOT

wandb = pytest.importorskip("wandb")


def test_a_cpu_run_reporting_to_wandb_offline_writes_the_aha_scalars(tiny_model_dir, tmp_path, monkeypatch):
    import torch

    from scripts.train import run

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    torch.set_num_threads(1)
    logged: list[dict] = []  # what reached wandb's own Run.log (the offline record file is flushed by a service)
    original = wandb.sdk.wandb_run.Run.log

    def recording_log(self, data, *args, **kwargs):
        logged.append(dict(data))
        return original(self, data, *args, **kwargs)

    monkeypatch.setattr(wandb.sdk.wandb_run.Run, "log", recording_log)
    import yaml

    recipe = yaml.safe_load((ROOT / "recipes" / "cpu_countdown_tiny.yaml").read_text())
    recipe["report_to"] = ["tensorboard", "wandb"]  # as a recipe says it
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"
    code = run(["--config", str(tmp_path / "recipe.yaml"), "--model_name_or_path",
                str(tiny_model_dir), "--tiny_base_recipe", "", "--output_dir", str(out), "--max_steps", "2",
                "--save_steps", "2", "--per_device_train_batch_size", "8", "--max_completion_length", "8",
                "--max_train_samples", "32", "--holdout_size", "0", "--log_samples_every", "1",
                "--disable_tqdm", "true"])
    assert code == 0
    wandb.finish()  # the trainer leaves the run open; finishing writes its summary
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, runs
    keys = {key for entry in logged for key in entry}
    for key in ("train/aha/format", "train/aha/accuracy", "train/aha/self_check_share", "train/aha/length_mean"):
        assert key in keys, sorted(keys)
    # the completions text, as TensorBoard's aha/samples (wandb stores Html media as files)
    samples = list((runs[0] / "files" / "media" / "html" / "train" / "aha").glob("samples_*.html"))
    assert samples and "<pre>" in samples[0].read_text()
    # the same scalars reached TensorBoard
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(next(out.rglob("events.out.tfevents.*")).parent))
    events.Reload()
    assert "train/aha/format" in events.Tags()["scalars"]
