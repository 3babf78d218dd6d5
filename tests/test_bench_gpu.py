"""scripts/bench/gpu.py on CPU with the tiny shape: the GPU benchmark's code path, in seconds."""

from __future__ import annotations

import json

from scripts.bench import gpu as bench_gpu
from scripts.bench.gpu_runs import synthetic_prompts


def test_tiny_bench_times_real_grpo_steps(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench_gpu.main(["--tiny", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["environment"]["device"] == "cpu"
    (result,) = report["results"]  # no GPU: vLLM is skipped, HF generate is measured
    assert result["generator"] == "hf" and result["steps_timed"] == 2
    assert result["step_s"] > 0 and result["completion_tokens_per_s"] > 0
    # A random model almost never emits EOS: completions run to the 16-token limit.
    assert 8 <= result["mean_completion_length"] <= 16
    assert result["completion_tokens_per_s"] * result["step_s"] >= 8 * 8  # 8 completions of >= 8 tokens per step
    decode = report["decode"]  # plain generate, same batch: 2 prompts x 4 completions, 16 new tokens
    assert decode["decode_batch"] == 8 and decode["decode_tokens_per_s"] > 0 and decode["weight_bytes"] > 0
    printed = capsys.readouterr().out
    assert "| hf |" in printed and "vllm skipped: no GPU" in printed


def test_prompts_have_the_requested_token_length(tmp_path):
    from transformers import AutoTokenizer

    from scripts.bench.model_shapes import build_random_model

    model_dir = build_random_model("tiny", tmp_path / "model")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    prompts = synthetic_prompts(3, 24, seed=1)
    assert [len(tokenizer(p, add_special_tokens=False).input_ids) for p in prompts] == [24, 24, 24]
