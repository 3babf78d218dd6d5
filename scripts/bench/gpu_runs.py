"""`make bench-gpu`'s measurements (scripts/bench/gpu.py): GRPO steps with one generator (HF
``generate`` or vLLM colocated) on a random-weight model fed synthetic prompts and a random reward,
and plain ``generate`` decode speed with the prefill subtracted; plus what this machine can run."""

from __future__ import annotations

import importlib.util
import platform
import statistics
import tempfile
import time
from pathlib import Path

from scripts.lib.models.loading import load_tokenizer


def synthetic_prompts(n: int, length: int, seed: int = 0) -> list[str]:
    """``n`` prompts of ``length`` random digits (the bench's BPE merges digits: about 0.9 tokens per digit)."""
    import random

    rng = random.Random(seed)
    return ["".join(str(rng.randrange(10)) for _ in range(length)) for _ in range(n)]


class RandomReward:
    """Rewards that differ within a group, so every step has advantages and a real backward pass."""

    __name__ = "random_reward"

    def __init__(self, seed: int = 0):
        import random

        self.rng = random.Random(seed)

    def __call__(self, completions, **kwargs):
        return [self.rng.random() for _ in completions]


def run_generator(generator: str, model_dir: Path, args) -> dict:
    """Train ``args.steps`` GRPO steps with one generator; time each step."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback
    from trl import GRPOConfig, GRPOTrainer

    cuda = torch.cuda.is_available()
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times, self.start = [], 0.0

        def on_step_begin(self, *a, **k):
            sync()
            self.start = time.perf_counter()

        def on_step_end(self, *a, **k):
            sync()
            self.times.append(time.perf_counter() - self.start)

    per_step = args.prompts * args.num_generations
    dataset = Dataset.from_list([{"prompt": p} for p in synthetic_prompts(per_step * (args.steps + 1), args.prompt_length)])
    with tempfile.TemporaryDirectory() as out:
        config = GRPOConfig(
            output_dir=out, report_to="none", save_strategy="no", logging_steps=1, disable_tqdm=True,
            max_steps=args.steps + 1, per_device_train_batch_size=per_step, num_generations=args.num_generations,
            max_completion_length=args.completion_length, temperature=1.0, learning_rate=1e-6, beta=0.0,
            bf16=cuda, use_cpu=not cuda, activation_checkpointing=cuda, seed=0,
            model_init_kwargs={"dtype": "bfloat16" if cuda else "float32"},
            use_vllm=generator == "vllm", vllm_mode="colocate", vllm_gpu_memory_utilization=args.vllm_memory,
        )
        timer = StepTimer()
        trainer = GRPOTrainer(model=str(model_dir), reward_funcs=[RandomReward()], args=config,
                              train_dataset=dataset, callbacks=[timer])
        trainer.remove_callback(PrinterCallback)  # the per-step metrics dict; the table says what matters
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        trainer.train()
    lengths = [log["completions/mean_length"] for log in trainer.state.log_history if "completions/mean_length" in log]
    timed = list(zip(timer.times, lengths))[1:]  # the first step compiles kernels and allocates caches
    step_s = statistics.median(t for t, _ in timed)
    tokens_per_s = statistics.median(per_step * n / t for t, n in timed)
    return {
        "generator": generator, "steps_timed": len(timed), "step_s": round(step_s, 4),
        "completion_tokens_per_s": round(tokens_per_s, 1),
        "mean_completion_length": round(statistics.mean(n for _, n in timed), 1),
        "peak_gpu_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2) if cuda else None,
    }


def decode_throughput(model_dir: Path, batch: int, prompt_length: int, new_tokens: int) -> dict:
    """Plain ``generate`` decode speed: ``batch`` sequences, ``new_tokens`` sampled tokens each, the
    prefill timed apart and subtracted. Each decode step reads every weight once, so the bound is
    HBM bandwidth / weight bytes steps per second (``weight_bytes`` lets a caller compute it)."""
    import torch
    from transformers import AutoModelForCausalLM

    cuda = torch.cuda.is_available()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if cuda else torch.float32)
    model.to("cuda" if cuda else "cpu").eval()
    tokenizer = load_tokenizer(str(model_dir))
    inputs = tokenizer(synthetic_prompts(batch, prompt_length), return_tensors="pt", padding=True).to(model.device)

    def timed(n: int) -> float:
        sync()
        start = time.perf_counter()
        with torch.no_grad():
            model.generate(**inputs, max_new_tokens=n, min_new_tokens=n, do_sample=True, top_k=0, top_p=1.0,
                           pad_token_id=tokenizer.pad_token_id)
        sync()
        return time.perf_counter() - start

    timed(4)  # warm-up: kernels, caches
    prefill = timed(1)
    total = timed(new_tokens)
    decode_s = max(total - prefill, 1e-9)
    return {"decode_batch": batch, "decode_new_tokens": new_tokens, "decode_s": round(decode_s, 4),
            "decode_tokens_per_s": round(batch * (new_tokens - 1) / decode_s, 1),
            "weight_bytes": sum(p.numel() * p.element_size() for p in model.parameters())}


def environment() -> dict:
    import torch
    import transformers
    import trl

    info = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "trl": trl.__version__, "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"}
    if importlib.util.find_spec("vllm"):
        import vllm

        info["vllm"] = vllm.__version__
    return info


def generators_available() -> tuple[list[str], str | None]:
    import torch

    if not torch.cuda.is_available():
        return ["hf"], "vllm skipped: no GPU"
    if importlib.util.find_spec("vllm") is None:
        return ["hf"], "vllm skipped: not installed (pip install -e \".[vllm]\")"
    return ["hf", "vllm"], None


