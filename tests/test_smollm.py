"""The kit's loop on a real pretrained chat model: SmolLM2-135M-Instruct from `make smollm`.

Slow (minutes on 2 cores) and skipped unless the folder exists (`make smollm`; the test never
downloads) and GSM8K is at ../shared/data/gsm8k or $GSM8K_DIR. Run: make test-slow, or
    pytest -m slow tests/test_smollm.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from scripts.lib.models.gguf_convert import is_converted
from scripts.lib.models.smollm import SMOLLM_DIR

MODEL = ROOT / SMOLLM_DIR
GSM8K = Path(os.environ.get("GSM8K_DIR", ROOT.parent / "shared" / "data" / "gsm8k"))
RECIPE = str(ROOT / "recipes" / "smollm2-135m-instruct_gsm8k.yaml")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not is_converted(MODEL), reason=f"{SMOLLM_DIR} missing: run `make smollm`"),
    pytest.mark.skipif(not (GSM8K / "test.jsonl").is_file(), reason=f"no GSM8K at {GSM8K} (set GSM8K_DIR)"),
]
SMALL = ["--dataset_name", str(GSM8K), "--model_name_or_path", str(MODEL), "--max_completion_length", "24",
         "--num_generations", "2", "--per_device_train_batch_size", "2"]


def run(args, run_env, timeout=900):
    done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=dict(run_env, OMP_NUM_THREADS="2"),
                          capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout + done.stderr


def test_preflight_samples_the_real_template_and_flags_its_traps(run_env):
    code, out = run(["scripts.preflight", "--config", RECIPE, *SMALL, "--samples", "2"], run_env)
    assert code == 0, out[-2000:]
    chat = next(line for line in out.splitlines() if line.strip().startswith("chat "))
    assert 'without a system message the template adds "You are a helpful AI assistant named SmolLM' in chat
    assert "`<think>` = 3 tokens" in chat and "pad = eos = <|im_end|>" in chat and "of 4" in chat
    assert "<|im_start|>assistant" in out  # the real chat template rendered the prompt
    assert out.rstrip().splitlines()[-1].startswith("reflection audit (4 completions)")


def test_eval_gives_a_number_on_gsm8k_test(run_env, tmp_path):
    out_file = tmp_path / "eval.json"
    code, out = run(["scripts.evaluate", "--models", str(MODEL), "--recipe", RECIPE, "--dataset_name",
                     str(GSM8K / "test.jsonl"), "--limit", "4", "--num_samples", "0", "--max_new_tokens", "32",
                     "--output_file", str(out_file)], run_env)
    assert code == 0, out[-2000:]
    assert out_file.is_file() and "pass@1" in out


def test_two_steps_train_resume_and_export_load(run_env, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.test_tracker import read_events

    run_dir = tmp_path / "run"
    common = ["scripts.train", "--config", RECIPE, *SMALL, "--output_dir", str(run_dir), "--save_steps", "1",
              "--log_samples_every", "1"]
    code, out = run([*common, "--max_steps", "1"], run_env)
    assert code == 0, out[-2000:]
    code, out = run([*common, "--max_steps", "2"], run_env)  # resume: auto continues from checkpoint-1
    assert code == 0, out[-2000:]
    state = json.loads((run_dir / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and [h["step"] for h in state["log_history"] if "loss" in h] == [1, 2]
    events = read_events(run_dir)
    assert {1, 2} <= set(events["scalars"]["train/rewards/format_reward/mean"])
    assert any("<|im_start|>" not in t and t.strip() for v in events["texts"].values() for t in v.values())

    export = tmp_path / "export"
    code, out = run(["scripts.export", str(run_dir / "checkpoint-2"), str(export)], run_env)
    assert code == 0, out[-2000:]
    model = AutoModelForCausalLM.from_pretrained(export)
    tokenizer = AutoTokenizer.from_pretrained(export)
    assert model.config.eos_token_id == tokenizer.eos_token_id == 2 and tokenizer.chat_template
