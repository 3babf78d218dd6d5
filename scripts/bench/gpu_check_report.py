"""`make gpu-check`'s report: the rows of scripts/bench/gpu_check_parts.py's parts as markdown, with the versions measured."""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version

VERSIONS = ("torch", "transformers", "trl", "datasets", "peft", "accelerate", "math-verify")


def step_time(row: dict) -> str:
    """The timed step's seconds, marked when it is the first (warm-up) step because no later one finished."""
    if "s_per_step" not in row:
        return "-"
    return f"{row['s_per_step']}" + (" (step 1, warm-up included)" if row["timed_step"] == 1 else "")


def peak_text(row: dict) -> str:
    """Peak memory in GiB; ``>=`` when the run was stopped or failed before its end (the peak so far)."""
    peak = gib(row.get("peak_bytes"))
    return peak if peak == "-" or row["status"].startswith("ok") else f">= {peak}"


def gib(n) -> str:
    return "-" if n is None else f"{n / 2**30:.2f}"


def render(report: dict) -> str:
    env, lines = report["environment"], []
    lines += [f"# GPU check: {env['device']}, {report['date']}", "",
              f"Command: `{report['command']}` ({report['wall_s']:.0f} s of a {report['budget_s']} s budget)."
              + (" **Dry run**: tiny shapes on the CPU; the numbers check the code path, not a GPU." if
                 report["dry_run"] else ""),
              "Versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + ".", ""]
    if "recipes" in report:
        lines += ["## 1. GPU recipes at their real size, 2 GRPO steps", "",
                  "Random weights of the recipe model's architecture (scripts/bench/model_shapes.py), a tokenizer "
                  "built here, the recipe's own settings except **`use_vllm: false`** (vLLM's wheel is far too "
                  "large to carry to an offline GPU machine, so generation is HF `generate` and the estimate counts "
                  "a KV cache instead of vLLM's share), `max_steps`, `holdout_size: 0`, synthetic local data, no "
                  "checkpoints. A random model almost never emits EOS: every completion runs to "
                  "`max_completion_length`, so these are **worst-case lengths**. s/step and tokens/s are the last "
                  "step's (the first also compiles kernels); generated tokens/s = completions per optimizer step "
                  "x mean length / step time; peak is `torch.cuda.max_memory_allocated` of the training process; "
                  "estimate is what `make preflight` prints for the same command.", "",
                  "| recipe | shape | status | s/step | generated tokens/s | completions/step x tokens | "
                  "peak GiB | estimate GiB | peak / estimate |", "|---|---|---|---|---|---|---|---|---|"]
        for r in report["recipes"]:
            lines.append(
                f"| {r['recipe']} | {r.get('shape') or '-'} | {r['status']} | {step_time(r)} | "
                f"{r.get('gen_tokens_per_s', '-')} | {r.get('generation_batch', '-')} x "
                f"{r.get('max_completion_length', '-')} | {peak_text(r)} | "
                f"{gib(r.get('estimate_bytes'))} | {r.get('peak_over_estimate', '-')} |")
        lines.append("")
        for r in report["recipes"]:
            if r.get("estimate"):
                lines.append(f"- {r['recipe']}: preflight: {r['estimate']}")
        lines.append("")
    if "decode" in report:
        d = report["decode"]
        lines += ["## 2. `make bench-gpu`, HF path, decode vs the memory-bandwidth bound", ""]
        if d.get("decode"):
            step, dec = d["grpo_step"], d["decode"]
            lines += [f"`{d['command']}` ({d['shape']} shape): one GRPO step {step['step_s']} s, "
                      f"{step['completion_tokens_per_s']} completion tokens/s over the step, peak "
                      f"{step['peak_gpu_gb'] if step['peak_gpu_gb'] is not None else '-'} GB.", "",
                      f"Plain `generate` decode: **{dec['decode_tokens_per_s']:.0f} tokens/s** (batch "
                      f"{dec['decode_batch']}, {dec['decode_new_tokens']} new tokens, prefill subtracted). Bound: each "
                      f"step reads all {dec['weight_bytes'] / 1e9:.3g} GB of weights once, at {report['hbm_tb_s']} TB/s "
                      f"(`--hbm-tb-s`; NVIDIA's H200 datasheet) that is {d['bound_tokens_per_s']:,} tokens/s at this "
                      f"batch: decode runs at **{d['share_of_bound']:.1%} of the bound** (the KV cache reads are "
                      "left out of the bound, so the true share is a little higher).", ""]
        else:
            lines += [f"status: {d['status']}", ""]
    if "demo" in report:
        d = report["demo"]
        lines += ["## 3. The CPU demo recipe on the GPU (`--use_cpu false`)", "", f"`{d.get('command', '')}`", "",
                  f"status: {d['status']}; training command {d.get('wall_s', '-')} s in all, "
                  f"{d.get('steps_done', 0)} steps logged, median {d.get('median_s_per_step') or '-'} s/step, "
                  f"peak {gib(d.get('peak_bytes'))} GiB."
                  + (f" Tiny base build before it: {d['base_build_s']} s"
                     f"{' (already cached)' if d.get('base_cached') else ''}." if "base_build_s" in d else ""), ""]
        lines += d.get("table") or ["(no held-out table: the run did not finish)"]
        lines.append("")
    if report.get("skipped"):
        lines += ["## Skipped", ""] + [f"- {s}" for s in report["skipped"]] + [""]
    lines += [f"Every part's output: {report['logs']}."]
    return "\n".join(lines) + "\n"


def environment(dry_run: bool) -> dict:
    import torch

    versions = {}
    for name in VERSIONS:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "missing"
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() and not dry_run else "cpu"
    return {"device": device, "versions": versions, "python": sys.version.split()[0]}


