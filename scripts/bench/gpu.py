"""Time one GRPO step: HF ``generate`` vs vLLM colocated, on a Qwen2.5-0.5B-shaped model with random weights.

    make bench-gpu                                      # on a GPU machine: both generators, one table
    python -m scripts.bench.gpu --tiny                  # CPU, a tiny shape: checks the script works (seconds)
    python -m scripts.bench.gpu --completion-length 512 --json bench.json

The model is built from a config alone (Qwen2.5-0.5B's shape, random weights, a small byte-level
BPE tokenizer built here), so nothing is downloaded and the numbers measure the
trainer, not the model's answers: a random model rarely stops early, so every completion runs to
about ``--completion-length`` tokens. Each generator runs in its own process on a GPU (vLLM keeps
a share of GPU memory for its whole life), after one untimed warm-up step.

Reported per generator: median step time (generation + scoring + loss + optimizer), completion
tokens per second over the whole step, and peak GPU memory of the training process; then plain
HF ``generate`` decode speed alone (same batch and lengths, prefill subtracted), which
``make gpu-check`` compares with the memory-bandwidth bound. Shapes: scripts/bench/model_shapes.py.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from scripts.bench.gpu_runs import decode_throughput, environment, generators_available, run_generator
from scripts.bench.model_shapes import SHAPES, build_random_model
from scripts.lib.recipe.cli import ArgumentParser, run_cli


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
            subprocess.run([sys.executable, "-m", "scripts.bench.gpu", *child], check=True)
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
