"""The kit's loop on a real pretrained chat model: SmolLM2-135M-Instruct from `make smollm`.

Slow (minutes on 2 cores) and skipped unless the folder exists (`make smollm`; the test never
downloads); the GSM8K ones also need GSM8K at ../shared/data/gsm8k or $GSM8K_DIR. The arithmetic
recipe's needs nothing else (its problems are generated). Run: make test-slow, or
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
ARITHMETIC = str(ROOT / "recipes" / "smollm2-135m-instruct_arithmetic.yaml")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not is_converted(MODEL), reason=f"{SMOLLM_DIR} missing: run `make smollm`"),
]
needs_gsm8k = pytest.mark.skipif(not (GSM8K / "test.jsonl").is_file(), reason=f"no GSM8K at {GSM8K} (set GSM8K_DIR)")
SMALL = ["--dataset_name", str(GSM8K), "--model_name_or_path", str(MODEL), "--max_completion_length", "24",
         "--num_generations", "2", "--per_device_train_batch_size", "2"]


def run(args, run_env, timeout=900):
    done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=dict(run_env, OMP_NUM_THREADS="2"),
                          capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout + done.stderr


@needs_gsm8k
def test_preflight_samples_the_real_template_and_flags_its_traps(run_env):
    code, out = run(["scripts.preflight", "--config", RECIPE, *SMALL, "--samples", "2"], run_env)
    assert code == 0, out[-2000:]
    chat = next(line for line in out.splitlines() if line.strip().startswith("chat "))
    assert 'without a system message the template adds "You are a helpful AI assistant named SmolLM' in chat
    assert "`<think>` = 3 tokens" in chat and "pad = eos = <|im_end|>" in chat and "of 4" in chat
    assert "<|im_start|>assistant" in out  # the real chat template rendered the prompt
    # stdout's last line (stderr, with its loading bars, comes after it in `out`)
    assert any(line.startswith("reflection audit (4 completions)") for line in out.splitlines())


@needs_gsm8k
def test_eval_gives_a_number_on_gsm8k_test(run_env, tmp_path):
    out_file = tmp_path / "eval.json"
    code, out = run(["scripts.evaluate", "--models", str(MODEL), "--recipe", RECIPE, "--dataset_name",
                     str(GSM8K / "test.jsonl"), "--limit", "4", "--num_samples", "0", "--max_new_tokens", "32",
                     "--output_file", str(out_file)], run_env)
    assert code == 0, out[-2000:]
    assert out_file.is_file() and "pass@1" in out


@needs_gsm8k
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
    assert f"resuming from {run_dir / 'checkpoint-1'}" in out
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


def test_arithmetic_recipe_trains_prints_before_after_and_exports_like_training(run_env, tmp_path):
    """The recipe as `make train` runs it, made small: the prefilled prompt reaches the model, the
    before/after table and held_out.json come out of training itself, `make eval RECIPE=` finds the
    trained model, and the export completes greedily as the training checkpoint does, through
    AutoTokenizer, AutoModelForCausalLM and pipeline."""
    from scripts.lib.models.hf_export import loading_mismatch
    from scripts.lib.models.loading import load_trained

    run_dir = tmp_path / "run"
    small = ["--output_dir", str(run_dir), "--max_steps", "2", "--save_steps", "2", "--holdout_size", "4",
             "--max_completion_length", "16", "--max_train_samples", "64", "--disable_tqdm", "true"]
    code, out = run(["scripts.train", "--config", ARITHMETIC, *small], run_env)
    assert code == 0, out[-3000:]
    assert "<think> pre-filled" in out  # preflight read the rendered prompt's end
    assert "held-out before:" in out and "held-out after:" in out
    held_out = json.loads((run_dir / "held_out.json").read_text())
    assert {"format", "accuracy"} <= set(held_out["before"]) and (run_dir / "adapter_config.json").is_file()
    assert held_out["prompt"].startswith("What is ") and held_out["prompt"].endswith("<think>")

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(Path(ARITHMETIC).read_text().replace(
        "output_dir: outputs/smollm2-135m-instruct_arithmetic", f"output_dir: {run_dir}"))
    code, out = run(["scripts.evaluate", "--recipe", str(recipe), "--limit", "2", "--num_samples", "0",
                     "--max_new_tokens", "8", "--output_file", str(tmp_path / "eval.json")], run_env)
    assert code == 0, out[-2000:]
    assert f"and its trained model {run_dir}" in out and str(run_dir) in out.split("no MODELS given")[1]

    export = tmp_path / "export"
    code, out = run(["scripts.export", str(run_dir / "checkpoint-2"), str(export)], run_env)
    assert code == 0, out[-2000:]
    model, tokenizer = load_trained(str(run_dir / "checkpoint-2"))
    from data.prompts import build_r1_zero_prompt, render_prompt
    from scripts.lib.recipe.parsing import parse_recipe

    script, _, _ = parse_recipe(["--config", ARITHMETIC, "--holdout_size", "4"])
    texts = [render_prompt(build_r1_zero_prompt(q, script.prompt_template, script.system_prompt), tokenizer)
             for q in ("What is 3 + 4?", "What is 12 + 9?", "What is 20 + 20?")]
    assert loading_mismatch(export, texts, tokenizer, model, generate=3, max_new_tokens=24) is None
