"""`make bench-smollm`: HF generate decode speed of SmolLM2-135M-Instruct on this CPU, against the
memory-bandwidth bound measured on the same machine in the same run.

    make smollm && make bench-smollm                                  # batch 1, 8, 32 on 2 threads, fp32
    python -m scripts.bench.smollm --batches 1 8 --new-tokens 32 --threads 1
    python -m scripts.bench.smollm --dtypes float32 bfloat16 --caches dynamic static   # the levers, same run

Decoding one token for a batch of ``b`` sequences reads every weight once (fp32: 4 bytes x 134.5 M
parameters, bf16: 2; the tied embedding counted once as the output projection) plus each sequence's KV
cache, so ``b x bandwidth / bytes per step`` tokens/s is the most any implementation can reach.
The bandwidth is measured here: the best of several copies of a 512 MiB array (numpy, one
thread; torch ``copy_`` on ``--threads`` threads), counting the bytes read and written.

Decode speed is ``b x (N - 1) / (t(N) - t(1))``: ``generate`` of N new tokens (``min_new_tokens=N``:
no early stop at eos) minus ``generate`` of one, which is the prefill; greedy, left-padded chat
prompts of GSM8K questions. Timings on a shared machine are noisy: the load is printed before and
after, and RESULTS.md records it with each number.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from data.prompts import build_r1_zero_prompt, render_prompt
from scripts.lib.recipe.cli import UserError, run_cli
from scripts.lib.models.smollm import SMOLLM_DIR

QUESTION = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
            "How many clips did Natalia sell altogether in April and May?")


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def bandwidth(threads: int, mib: int = 512, reps: int = 5) -> dict[str, float]:
    """GB/s (read + written bytes) of the best of ``reps`` large-array copies, numpy and torch."""
    import numpy as np
    import torch

    n = mib * 2**20 // 4
    src, dst = np.ones(n, dtype=np.float32), np.empty(n, dtype=np.float32)
    best_np = min(_timed(lambda: np.copyto(dst, src)) for _ in range(reps))
    torch.set_num_threads(threads)
    tsrc, tdst = torch.ones(n), torch.empty(n)
    best_torch = min(_timed(lambda: tdst.copy_(tsrc)) for _ in range(reps))
    moved = 2 * n * 4
    return {"numpy_1thread": moved / best_np / 1e9, f"torch_{threads}threads": moved / best_torch / 1e9}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def decode_speed(model, tokenizer, batch: int, new_tokens: int, questions: list[str], cache: str = "dynamic") -> dict:
    import torch

    prompts = [render_prompt(build_r1_zero_prompt(questions[i % len(questions)], "chat"), tokenizer)
               for i in range(batch)]
    tokenizer.padding_side = "left"
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    options = {"do_sample": False, "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id}
    if cache == "static":
        options["cache_implementation"] = "static"

    def generate(n):
        with torch.no_grad():
            return model.generate(**enc, max_new_tokens=n, min_new_tokens=n, **options)

    generate(2)  # warm-up
    t1 = min(_timed(lambda: generate(1)) for _ in range(2))
    tn = _timed(lambda: generate(new_tokens))
    decode_s = max(tn - t1, 1e-9)
    return {"batch": batch, "prompt_tokens": enc["input_ids"].shape[1], "prefill_s": t1, "total_s": tn,
            "decode_tok_s": batch * (new_tokens - 1) / decode_s, "ms_per_step": 1000 * decode_s / (new_tokens - 1)}


def bytes_per_step(model, batch: int, context: int) -> float:
    """Weights read once (tied embedding once) + every sequence's KV cache at ``context`` tokens."""
    cfg = model.config
    params = list({id(p): p for p in model.parameters()}.values())
    weights = sum(p.numel() * p.element_size() for p in params)
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    kv = 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * head_dim * params[0].element_size() * context * batch
    return weights + kv


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=SMOLLM_DIR)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--dtypes", nargs="+", default=["float32"], choices=["float32", "bfloat16"],
                        help="weights' dtype; bfloat16 halves the bytes per step (avx512_bf16 CPUs compute it natively)")
    parser.add_argument("--caches", nargs="+", default=["dynamic"], choices=["dynamic", "static"],
                        help="KV cache: transformers' default, or static (preallocated)")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--questions", default=None, help="GSM8K jsonl whose questions are the prompts")
    parser.add_argument("--out", default="outputs/bench_smollm/result.json")
    args = parser.parse_args(argv)
    if not (Path(args.model) / "config.json").is_file():
        raise UserError(f"--model {args.model}: not a model folder (run `make smollm` first)")
    if args.new_tokens < 2:
        raise UserError("--new-tokens must be at least 2")
    questions = [QUESTION]
    if args.questions:
        from data.loading import read_jsonl
        questions = [row["question"] for row in read_jsonl(args.questions)[:max(args.batches)]]

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(args.threads)
    print(f"load average before: {load_average()}  (threads {args.threads}, cores {os.cpu_count()})")
    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    load_s = time.perf_counter() - start
    params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    print(f"loaded {args.model}: {params / 1e6:.1f} M parameters in {load_s:.2f} s")
    bw = bandwidth(args.threads)
    best_bw = max(bw.values())
    print("memory bandwidth (copy, read + write): " + ", ".join(f"{k} {v:.1f} GB/s" for k, v in bw.items()))
    rows = []
    print("\n| dtype | cache | batch | prompt tok | prefill s | decode tok/s | ms/step | bound tok/s | of bound |")
    print("|---|---|---|---|---|---|---|---|---|")
    for dtype in args.dtypes:
        model = model.to(getattr(torch, dtype))
        for cache in args.caches:
            for batch in args.batches:
                r = decode_speed(model, tokenizer, batch, args.new_tokens, questions, cache)
                context = r["prompt_tokens"] + args.new_tokens // 2
                r.update(dtype=dtype, cache=cache,
                         bound_tok_s=batch * best_bw * 1e9 / bytes_per_step(model, batch, context))
                rows.append(r)
                print(f"| {dtype} | {cache} | {batch} | {r['prompt_tokens']} | {r['prefill_s']:.2f} | "
                      f"{r['decode_tok_s']:.1f} | {r['ms_per_step']:.0f} | {r['bound_tok_s']:.0f} | "
                      f"{r['decode_tok_s'] / r['bound_tok_s']:.0%} |")
    print(f"\nload average after: {load_average()}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"load_s": load_s, "parameters": params, "bandwidth_gb_s": bw, "rows": rows,
                               "threads": args.threads, "new_tokens": args.new_tokens}, indent=1))
    print(f"written: {out}")
    return 0


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
