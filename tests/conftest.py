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

TINY_TASK = {
    "countdown": {"n_numbers": (3, 3), "number_range": (1, 9), "target_range": (10, 99), "ops": "+-*", "chain": True},
    "template": "compact",
    "question_style": "terse",
    "test_size": 16,
    "seed": 42,
}


def train_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "scripts.train", *args]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """An untrained tiny Qwen2 + BPE tokenizer, saved like a hub model folder."""
    from scripts.tiny_base import TinyBaseConfig, build_tiny_base

    out = tmp_path_factory.mktemp("tiny") / "model"
    cfg = TinyBaseConfig(corpus_size=1500, steps=0, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, vocab_size=1024)
    return build_tiny_base(out, cfg, TINY_TASK, progress=False)


@pytest.fixture()
def run_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env
