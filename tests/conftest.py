"""Shared fixtures: a tiny untrained Qwen2 model built locally (no hub, no network)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"

# A test must never try the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _cpu_recipe_task() -> dict:
    """The tiny base's task as ``make train`` derives it from the CPU recipe, with a 16-problem held-out
    set instead of 512 (the fixture model is built in seconds)."""
    from scripts.lib.models.tiny_base.task import recipe_tiny_base_task

    return recipe_tiny_base_task(str(ROOT / "recipes" / "cpu_countdown_tiny.yaml"), holdout_size=16)


TINY_TASK = _cpu_recipe_task()


def train_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "scripts.train", *args]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """An untrained tiny Qwen2 + BPE tokenizer, saved like a hub model folder."""
    from scripts.lib.models.tiny_base.build import build_tiny_base
    from scripts.lib.models.tiny_base.config import TinyBaseConfig

    out = tmp_path_factory.mktemp("tiny") / "model"
    cfg = TinyBaseConfig(corpus_size=1500, steps=0, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2)
    return build_tiny_base(out, cfg, TINY_TASK, progress=False)


@pytest.fixture()
def run_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env


# Tracker settings for the shared short run: samples every 2 steps, and aha margins of -1 so the
# heuristic must fire at a known step (baseline = step 1, rise from step 2, confirmed at step 3).
TRACKED_RUN_FLAGS = ["--log_samples_every", "2", "--log_samples_count", "2", "--aha_baseline_steps", "1",
                     "--aha_window", "2", "--aha_smoothing", "1", "--aha_reflection_margin", "-1",
                     "--aha_accuracy_margin", "-1", "--aha_wrong_to_right_margin", "-1"]


@pytest.fixture(scope="session")
def tracked_run(tiny_model_dir, tmp_path_factory):
    """One 3-step run on the tiny model, a checkpoint per step, shared by the tracker/checkpoints/export tests."""
    import subprocess

    out = tmp_path_factory.mktemp("tracked") / "run"
    args = ["--config", str(ROOT / "recipes" / "cpu_countdown_tiny.yaml"), "--model_name_or_path", str(tiny_model_dir),
            "--tiny_base_recipe", "", "--output_dir", str(out), "--max_steps", "3", "--save_steps", "1",
            "--per_device_train_batch_size", "8", "--num_generations", "4", "--max_completion_length", "12",
            "--holdout_size", "0", "--max_train_samples", "64", "--disable_tqdm", "true", *TRACKED_RUN_FLAGS]
    env = dict(os.environ, PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(train_command(*args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout


@pytest.fixture(scope="session")
def tiny_chat_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model made to stand in for a Qwen recipe's model: a chat template and 4096 positions.

    Rotary positions have no weights, so only the config changes; GSM8K prompts in the R1-Zero or
    chat templates run past the tiny model's 256 positions.
    """
    import json
    import shutil

    from scripts.bench.model_shapes import CHATML_TEMPLATE

    out = tmp_path_factory.mktemp("tiny_chat") / "model"
    shutil.copytree(tiny_model_dir, out)
    config = json.loads((out / "config.json").read_text())
    config["max_position_embeddings"] = 4096
    (out / "config.json").write_text(json.dumps(config, indent=2))
    # A file next to the tokenizer, as hub models ship it: the kit-trained tokenizer.json stays as is.
    (out / "chat_template.jinja").write_text(CHATML_TEMPLATE)
    return out
