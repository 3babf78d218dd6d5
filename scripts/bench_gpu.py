"""Time one GRPO step: HF ``generate`` vs vLLM colocated, on a Qwen2.5-0.5B-shaped model with random weights.

    make bench-gpu                                      # on a GPU machine: both generators, one table
    python -m scripts.bench_gpu --tiny                  # CPU, a tiny shape: checks the script works (seconds)
    python -m scripts.bench_gpu --completion-length 512 --json bench.json

The model is built from a config alone (Qwen2.5-0.5B's shape, random weights, a small byte-level
BPE tokenizer built here), so nothing is downloaded and the numbers measure the
trainer, not the model's answers: a random model rarely stops early, so every completion runs to
about ``--completion-length`` tokens. Each generator runs in its own process on a GPU (vLLM keeps
a share of GPU memory for its whole life), after one untimed warm-up step.

Reported per generator: median step time (generation + scoring + loss + optimizer), completion
tokens per second over the whole step, and peak GPU memory of the training process; then plain
HF ``generate`` decode speed alone (same batch and lengths, prefill subtracted), which
``make gpu-check`` compares with the memory-bandwidth bound. Shapes: scripts/lib/model_shapes.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.lib.cli import ArgumentParser, run_cli
from scripts.lib.model_shapes import SHAPES, build_random_model


def synthetic_prompts(n: int, length: int, seed: int = 0) -> list[str]:
    """``n`` prompts of ``length`` random digits: one token per digit, as Qwen's tokenizer splits numbers."""
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

    from scripts.lib.models import load_tokenizer

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


def table(results: list[dict], args, env: dict, note: str | None) -> str:
    lines = [
        f"GRPO step, {args.shape} shape, random weights: {args.prompts} prompts x {args.num_generations} completions, "
        f"{args.prompt_length} prompt + {args.completion_length} completion tokens; device: {env['device']}",
        "",
        "| generator | step time (s) | completion tokens/s | mean completion length | peak GPU memory (GB) |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        peak = "-" if r["peak_gpu_gb"] is None else f"{r['peak_gpu_gb']:.2f}"
        lines.append(f"| {r['generator']} | {r['step_s']:.3f} | {r['completion_tokens_per_s']:.0f} | "
                     f"{r['mean_completion_length']:.0f} | {peak} |")
    if note:
        lines.append(f"\n{note}")
    lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in env.items() if k != "device"))
    return "\n".join(lines)


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny shape and sizes: a CPU smoke run in seconds")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="qwen2.5-0.5b")
    parser.add_argument("--prompts", type=int, default=4, help="prompts per step (the GSM8K recipes' 4)")
    parser.add_argument("--num-generations", type=int, default=16, help="completions per prompt")
    parser.add_argument("--prompt-length", type=int, default=128, help="prompt tokens")
    parser.add_argument("--completion-length", type=int, default=256, help="max completion tokens")
    parser.add_argument("--steps", type=int, default=3, help="timed steps (after one warm-up step)")
    parser.add_argument("--vllm-memory", type=float, default=0.3, help="vllm_gpu_memory_utilization")
    parser.add_argument("--generator", choices=["hf", "vllm"], help="run only this one (in this process)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--no-decode", action="store_true", help="skip the plain-generate decode timing")
    args = parser.parse_args(argv)
    if args.tiny:
        args.shape, args.prompts, args.num_generations = "tiny", 2, 4
        args.prompt_length, args.completion_length, args.steps = 16, 16, 2
    return args


def _without_option(argv: list[str], name: str) -> list[str]:
    """
    >>> _without_option(["--tiny", "--json", "a.json", "--steps", "2"], "--json")
    ['--tiny', '--steps', '2']
    """
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            out.append(arg)
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    env = environment()
    if args.generator:
        generators, note = [args.generator], None
    else:
        generators, note = generators_available()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_random_model(args.shape, Path(tmp) / "model")
        results = []
        for generator in generators:
            if len(generators) == 1:
                results.append(run_generator(generator, model_dir, args))
                continue
            # One process per generator: vLLM's memory share must not shrink the other's.
            out = Path(tmp) / f"{generator}.json"
            child = _without_option(argv, "--json") + ["--generator", generator, "--json", str(out)]
            subprocess.run([sys.executable, "-m", "scripts.bench_gpu", *child], check=True)
            results.append(json.loads(out.read_text())["results"][0])
        decode = None
        if "hf" in generators and not (args.generator or args.no_decode):
            decode = decode_throughput(model_dir, args.prompts * args.num_generations, args.prompt_length,
                                       args.completion_length)
    if args.json:
        Path(args.json).write_text(json.dumps({"environment": env, "settings": vars(args), "results": results,
                                               "decode": decode}, indent=2))
    if not args.generator or not args.json:
        print(table(results, args, env, note))
        if decode:
            print(f"HF generate decode alone: {decode['decode_tokens_per_s']:.0f} tokens/s "
                  f"(batch {decode['decode_batch']}, {decode['decode_new_tokens']} new tokens)")
    return 0


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
