"""`make eval`: a base model and its checkpoints side by side, on problems training never saw.

    make eval MODELS="outputs/tiny-base/countdown outputs/cpu_countdown_tiny" ARGS="--limit 256"
    make eval MODELS="Qwen/Qwen2.5-0.5B-Instruct outputs/qwen2.5-0.5b-instruct_gsm8k/checkpoint-200" RECIPE=recipes/qwen2.5-0.5b-instruct_gsm8k.yaml
    make eval MODELS="Qwen/Qwen2.5-0.5B-Instruct" TASK=gsm8k ARGS="--prompt_template chat --limit 100"
    python -m scripts.evaluate --models A B --recipe recipes/cpu_countdown_tiny.yaml --num_samples 16 --pass_k 1 4 16
    make eval MODELS="Qwen/Qwen2.5-1.5B" TASK=math500 ARGS="--use_vllm true"     # a benchmark (data/benchmarks.py)

For each model: pass@1 with greedy decoding, the unbiased pass@k from k samples at the recipe's
temperature (and avg@k whenever samples are drawn), format rate, mean completion length and self-check share, all
scored with the training prompt template and reward code (``scripts/lib/evaluation/scoring.py``, ``pass_at_k.py``). Prints a
markdown table and writes a JSON file with every number, the library versions (torch, transformers,
trl, math-verify, sympy, vllm) and one record per problem (prompt, completions, correct?).

Settings come from ``--recipe``, so a checkpoint is measured the way it was trained, or from a
benchmark's published protocol; flags override them (``scripts/lib/evaluation/eval_settings.py``). Without
``--recipe``, a checkpoint or exported model is scored with the recipe and flags its run recorded
(``run_info.json``); ``--recorded_settings false`` falls back to the task's defaults.

Next to pass@k: the revision numbers (self-check share, accuracy self-checking vs not; for
Countdown tries, first-try accuracy, wrong->right, right->wrong, true hits inside ``<think>``),
reflection@k (share of problems where any of k samples self-checks), and per model one audit line:
reflection absent / present but does not pay / present and pays (``scripts/lib/measure/reflection.py``). The eval
problems are ``scripts/lib/evaluation/eval_problems.py``'s. A model is a checkpoint dir (``<run>/checkpoint-N``), an
exported folder, a LoRA adapter dir (merged into its base) or a hub id; ``--use_vllm`` generates with
vLLM (GPU), otherwise transformers' ``generate`` (``scripts/lib/evaluation/generation.py``). Launched on several processes (``make eval NPROC=2``), each rank
generates its share of the problems, with the same per-completion seeds, and rank 0 prints and writes
(vLLM: one process). Bad input (a missing
model folder, an unknown task or flag) prints one line and exits with code 2.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from scripts.lib.recipe.cli import run_cli
from scripts.lib.process.console import say
from scripts.lib.process.distributed import is_main, shut_down, world_size
from scripts.lib.evaluation.eval_settings import is_benchmark, make_plan, parse_args
from scripts.lib.evaluation.eval_problems import EvalError
from scripts.lib.evaluation.pass_at_k import add_avg_at_k, avg_rows, comparison_table, evaluate_generations
from scripts.lib.evaluation.scoring import KEYWORD_ONLY_NOTE, json_safe, library_versions
from scripts.lib.evaluation.generation import ModelGenerators
from scripts.lib.models.loading import model_kind


def main(argv=None, generators=None) -> int:
    """Run the evaluation; ``generators(name)`` gives a model's generate function (default: load the model)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    # Every model path is checked before anything slow: a typo in the last one fails at once.
    kinds = {name: model_kind(name) if generators is None else "injected" for name in args.models}
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    plan = make_plan(args)
    if world_size() > 1 and args.use_vllm:
        raise EvalError("make eval --use_vllm runs on one process (vLLM spreads a model over the GPUs itself): "
                        "launch it without NPROC / accelerate")
    if generators is None:
        generators = ModelGenerators(plan, args.use_vllm, args.batch_size, args.progress and is_main())
    benchmark = args.task if is_benchmark(args) else None

    sampling = (f"T={plan.temperature:g}, top_p {plan.top_p:g}, {args.num_samples} samples" if benchmark
                else f"T={plan.temperature:g}, {args.num_samples} samples")
    versions = library_versions()
    if plan.recorded:
        say(f"settings: recorded by the run that wrote {plan.recorded} (--recipe or --recorded_settings false "
              "to choose others)")
    say(f"eval problems: {plan.source}; scoring {len(plan.rows)} problems per model")
    say("libraries: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
    say("decoding: greedy" + (f" + {args.num_samples} samples at T={plan.temperature:g} (top_k {plan.top_k}, "
                                 f"top_p {plan.top_p:g})" if args.num_samples else "")
          + f", at most {plan.max_new_tokens} new tokens, seed {plan.seed}")
    results, started = {}, time.time()
    for i, name in enumerate(args.models, start=1):
        say(f"[{i}/{len(args.models)}] {name} ({kinds[name]})")
        model_started = time.time()
        generate = generators(name)
        try:
            out = evaluate_generations(generate, plan.rows, plan.task, args.num_samples, args.pass_k,
                                       plan.reflection_phrases, plan.reward_settings)
        finally:
            if hasattr(generators, "release"):
                generators.release(generate)
        add_avg_at_k(out["metrics"], out["records"], args.num_samples)
        results[name] = {"model": name, "kind": kinds[name], "seconds": round(time.time() - model_started, 1), **out}

    label = benchmark or plan.task
    table = comparison_table({name: r["metrics"] for name, r in results.items()}, label, sampling)
    table = avg_rows(table, results, args.num_samples, sampling)
    say("\n" + table + "\n")
    if plan.task != "countdown":
        say(KEYWORD_ONLY_NOTE.format(task=label, phrases=plan.reflection_phrases or "the default list, "
                                     "scripts/lib/measure/reflection.py"))
    # The base-model audit, one line per model: is there reflection, and does it pay?
    for name, result in results.items():
        say(f"{name}: {result['metrics']['verdict']}")
    output = Path(args.output_file or f"outputs/eval/{label}_{time.strftime('%Y%m%d-%H%M%S')}.json")
    shut_down()  # every rank has its numbers (gathered); rank 0 alone writes the file
    if not is_main():
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    settings = {key: value for key, value in asdict(plan).items() if key not in ("rows", "reward_settings")}
    payload = {
        "command": "python -m scripts.evaluate " + " ".join(argv),
        "task": plan.task, "benchmark": benchmark,
        "problems": plan.source, "n": len(plan.rows), "versions": versions,
        "settings": {**settings, "num_samples": args.num_samples, "pass_k": args.pass_k,
                     "backend": "vllm" if args.use_vllm else "transformers", "recipe": args.recipe,
                     "protocol": args.protocol if benchmark else None},
        "table": table, "seconds": round(time.time() - started, 1),
        "models": list(results.values()),
    }
    output.write_text(json.dumps(json_safe(payload), indent=1))
    say(f"results and per-problem records: {output}")
    return 0


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
