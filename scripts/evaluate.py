"""`make eval`: a base model and its checkpoints side by side, on problems training never saw.

For each model: pass@1 with greedy decoding, the unbiased pass@k from k samples at the recipe's
temperature, format rate, mean completion length and self-check share, all scored with the
training prompt template and reward code (``scripts/lib/evaluation.py``). Prints a markdown table and
writes a JSON file with every number and one record per problem (prompt, completions, correct?).

    make eval MODELS="outputs/tiny-base/countdown outputs/cpu_countdown_tiny" ARGS="--limit 256"
    make eval MODELS="Qwen/Qwen2.5-0.5B outputs/qwen/checkpoint-200" RECIPE=recipes/<gsm8k recipe>.yaml
    make eval MODELS="Qwen/Qwen2.5-0.5B-Instruct" TASK=gsm8k ARGS="--prompt_template chat --limit 100"
    python -m scripts.evaluate --models A B --recipe recipes/cpu_countdown_tiny.yaml --num_samples 16 --pass_k 1 4 16
    make eval MODELS="Qwen/Qwen2.5-1.5B" TASK=math500 ARGS="--use_vllm true"     # a benchmark (data/benchmarks.py)

Benchmarks (``--task math500|aime24|amc23|gsm8k``): the hub split of ``data/benchmarks.py`` or
``--dataset_name`` (a local copy), decoded with a published protocol (``--protocol``; flags override
it) and scored with avg@k (mean accuracy over the k samples) and pass@k; the JSON records the
library versions (torch, transformers, trl, math-verify, vllm), so a number can be reproduced or its
difference explained.

Settings come from ``--recipe`` (task, data, prompt template, temperature, top_k/top_p, completion
length, seed), so a checkpoint is measured the way it was trained; flags override them. Without a
recipe, the task's defaults (``scripts/lib/config.py``) and TRL's ``GRPOConfig`` defaults apply.

Held-out problems: GSM8K's ``test`` split (a hub id, a local ``.jsonl`` file or a folder with
``test.jsonl``); for generated Countdown, the problems the recipe's training held out (same seed
and settings); for a recipe that reads one file, the tail of it that training held out.

A model is a checkpoint dir (``<run>/checkpoint-N``), an exported folder, a LoRA adapter dir
(its base model is loaded from ``adapter_config.json`` and the adapter merged in), or a hub id.
``--use_vllm`` generates with vLLM (GPU) when it is installed; otherwise transformers' ``generate``.
Bad input (a missing model folder, an unknown task or flag) prints one line and exits with code 2.
"""

from __future__ import annotations

import difflib
import json
import math
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from data.benchmarks import BENCHMARKS, DEFAULT_PROTOCOL, PROTOCOLS, load_benchmark, protocol_settings
from data.prompts import render_prompt
from rewards import ACCURACY_REWARD_FOR_TASK
from scripts.lib.cli import UserError, run_cli
from scripts.lib.config import chat_template_kwargs
from scripts.lib.evaluation import HFGenerator, comparison_table, evaluate_generations
from scripts.lib.models import load_model_tokenizer, load_trained, model_kind


class EvalError(UserError):
    """A problem with the command line, a model path or the held-out data, in one line."""


@dataclass
class EvalArguments:
    models: list[str] = field(
        default_factory=list,
        metadata={"help": "Models to compare, in table order: checkpoint dirs, exported folders, LoRA adapter "
                  "dirs or hub ids (the base model first, by convention)."},
    )
    recipe: str | None = field(
        default=None, metadata={"help": "Training recipe to take the task, held-out data, prompt and sampling from."}
    )
    task: str | None = field(
        default=None,
        metadata={"help": f"A task {sorted(ACCURACY_REWARD_FOR_TASK)} (default: the recipe's) or a benchmark "
                  f"{sorted(BENCHMARKS)}."},
    )
    protocol: str = field(
        default=DEFAULT_PROTOCOL,
        metadata={"help": f"Benchmarks only: published decoding settings {sorted(PROTOCOLS)} (data/benchmarks.py); "
                  "--temperature, --top_p, --max_new_tokens, --num_samples override them."},
    )
    dataset_name: str | None = field(
        default=None,
        metadata={"help": "Evaluate on this data instead (hub id, .jsonl file, or folder with {split}.jsonl); "
                  "every row of the split is used."},
    )
    dataset_split: str | None = field(default=None, metadata={"help": "Held-out split (default: the recipe's, `test`)."})
    prompt_template: str | None = field(default=None, metadata={"help": "Prompt template (default: the recipe's)."})
    limit: int | None = field(default=None, metadata={"help": "Score only the first N held-out problems."})
    num_samples: int | None = field(
        default=None,
        metadata={"help": "Sampled completions per problem for avg@k and pass@k (0: greedy decoding only; default: 8, "
                  "or the benchmark protocol's)."},
    )
    pass_k: list[int] | None = field(
        default=None, metadata={"help": "Values of k for pass@k, each at most num_samples (default: 1 and num_samples)."}
    )
    countdown_problems: int = field(
        default=512,
        metadata={"help": "Generated Countdown only, when the recipe holds out none: fresh problems to make, "
                  "excluding every training problem."},
    )
    temperature: float | None = field(default=None, metadata={"help": "Sampling temperature (default: the recipe's)."})
    top_k: int | None = field(default=None, metadata={"help": "Sampling top-k, 0 = off (default: the recipe's)."})
    top_p: float | None = field(default=None, metadata={"help": "Sampling top-p (default: the recipe's)."})
    max_new_tokens: int | None = field(
        default=None, metadata={"help": "Longest completion (default: the recipe's max_completion_length)."}
    )
    seed: int | None = field(
        default=None,
        metadata={"help": "Sampling seed (default: the recipe's). The Countdown held-out set always uses the recipe's."},
    )
    batch_size: int = field(default=64, metadata={"help": "Sequences per generate call (transformers backend)."})
    num_threads: int = field(
        default=0,
        metadata={"help": "torch CPU threads (0: torch's default). A tiny model on busy cores runs several times "
                  "faster with 1."},
    )
    dtype: str | None = field(default=None, metadata={"help": "Model dtype (default: the recipe's, else `auto`)."})
    use_vllm: bool = field(default=False, metadata={"help": "Generate with vLLM (needs vllm and a GPU)."})
    vllm_gpu_memory_utilization: float | None = field(
        default=None, metadata={"help": "vLLM's share of GPU memory (default: the recipe's)."}
    )
    output_file: str | None = field(
        default=None, metadata={"help": "JSON results (default: outputs/eval/<task>_<date>-<time>.json)."}
    )
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})


@dataclass
class EvalSettings:
    """Everything a run needs besides the models: resolved once from recipe, defaults and flags."""

    task: str
    rows: list
    source: str
    max_new_tokens: int
    temperature: float
    top_k: int
    top_p: float
    seed: int
    dtype: str
    vllm_gpu_memory_utilization: float
    reflection_phrases: list | None
    reward_settings: dict
    chat_template_kwargs: dict


# --------------------------------------------------------------------------- command line


def parse_args(argv) -> EvalArguments:
    from transformers import HfArgumentParser

    class OneLineParser(HfArgumentParser):
        def error(self, message):
            raise EvalError(message)

    parser = OneLineParser(EvalArguments)
    try:
        (args,) = parser.parse_args_into_dataclasses(args=argv)
    except ValueError as err:
        if isinstance(err, EvalError):
            raise
        unknown = [a for a in argv if a.startswith("--") and a[2:].split("=")[0] not in _flag_names()]
        if unknown:
            name = unknown[0][2:].split("=")[0]
            close = difflib.get_close_matches(name, _flag_names(), n=1)
            raise EvalError(f"unknown flag `--{name}`" + (f" (did you mean `--{close[0]}`?)" if close else "")) from None
        raise EvalError(str(err).strip().splitlines()[0]) from None
    if not args.models:
        raise EvalError('no models given: make eval MODELS="<base model> <run>/checkpoint-100 ..."')
    if args.task is not None and args.task not in ACCURACY_REWARD_FOR_TASK and args.task not in BENCHMARKS:
        raise EvalError(f"unknown task `{args.task}`: use a task {sorted(ACCURACY_REWARD_FOR_TASK)} or a benchmark "
                        f"{sorted(BENCHMARKS)}")
    if args.protocol not in PROTOCOLS:
        raise EvalError(f"unknown protocol `{args.protocol}`: use one of {sorted(PROTOCOLS)}")
    if args.num_samples is None:
        args.num_samples = protocol_settings(args.task, args.protocol)["num_samples"] if is_benchmark(args) else 8
    if args.num_samples < 0 or (args.limit is not None and args.limit < 1):
        raise EvalError("--num_samples must be >= 0 and --limit >= 1")
    if args.pass_k is None:
        args.pass_k = sorted({1, args.num_samples}) if args.num_samples else []
    if args.num_samples and any(not 1 <= k <= args.num_samples for k in args.pass_k):
        raise EvalError(f"--pass_k {args.pass_k}: each k must be between 1 and --num_samples ({args.num_samples})")
    if args.use_vllm:
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            raise EvalError("--use_vllm: vLLM is not installed (pip install vllm, on a CUDA machine); "
                            "drop --use_vllm to generate with transformers")
    return args


def is_benchmark(args: EvalArguments) -> bool:
    """``--task`` names a benchmark; ``--task gsm8k`` with a recipe means the recipe's held-out set."""
    return args.task in BENCHMARKS and not (args.recipe and args.task in ACCURACY_REWARD_FOR_TASK)


def _flag_names() -> list[str]:
    return [f.name for f in fields(EvalArguments)]


def recipe_settings(recipe: str | None):
    """(R1ZeroArguments, generation settings dict, model dtype) from the recipe, or the defaults."""
    from trl import GRPOConfig

    from scripts.lib.config import R1ZeroArguments, parse_recipe

    if recipe is None:
        defaults = {f.name: f.default for f in fields(GRPOConfig)}
        return R1ZeroArguments(), defaults, None
    # Only sampling settings are read: GPU-only training switches must not stop a CPU evaluation.
    overrides = ["--bf16", "false", "--fp16", "false", "--use_vllm", "false"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        script, training, model = parse_recipe(["--config", recipe, *overrides])
    return script, vars(training), model.dtype


def make_plan(args: EvalArguments) -> EvalSettings:
    script, gen, dtype = recipe_settings(args.recipe)
    if is_benchmark(args):
        return benchmark_plan(args, script, gen, dtype)
    if args.task and args.recipe and args.task != script.task:
        raise EvalError(f"--task {args.task}, but {args.recipe} is a {script.task} recipe: drop one of the two")
    script.task = args.task or script.task
    if args.prompt_template:
        script.prompt_template = args.prompt_template
    rows, source = held_out_rows(script, gen["seed"], args)
    if args.limit:
        rows = rows[:args.limit]
    if not rows:
        raise EvalError(f"no held-out problems in {source}")

    def pick(flag, key):
        return flag if flag is not None else gen[key]

    return EvalSettings(
        task=script.task, rows=rows, source=source,
        max_new_tokens=pick(args.max_new_tokens, "max_completion_length"),
        temperature=pick(args.temperature, "temperature"), top_k=pick(args.top_k, "top_k") or 0,
        top_p=pick(args.top_p, "top_p"), seed=pick(args.seed, "seed"),
        dtype=args.dtype or dtype or "auto",
        vllm_gpu_memory_utilization=pick(args.vllm_gpu_memory_utilization, "vllm_gpu_memory_utilization"),
        reflection_phrases=script.reflection_phrases, reward_settings=script.reward_settings(),
        chat_template_kwargs=chat_template_kwargs(gen),
    )


def benchmark_plan(args: EvalArguments, script, gen: dict, dtype) -> EvalSettings:
    """A benchmark's rows in the recipe's (else the R1-Zero) prompt, decoded as its protocol says."""
    from data.loading import DataError

    bench = BENCHMARKS[args.task]
    if args.recipe and script.task != bench.task:
        raise EvalError(f"--task {args.task} is scored as {bench.task}, but {args.recipe} is a {script.task} recipe")
    template = args.prompt_template or script.prompt_template
    try:
        from data.prompts import resolve_template

        resolve_template(template)
        rows, _, source = load_benchmark(args.task, args.dataset_name, args.dataset_split, template,
                                         script.system_prompt, script.on_bad_row)
    except DataError as err:
        raise EvalError(str(err)) from None
    except ValueError as err:
        raise EvalError(str(err).splitlines()[0]) from None
    rows = rows[:args.limit] if args.limit else rows
    if not rows:
        raise EvalError(f"no problems in {source}")
    published = protocol_settings(args.task, args.protocol)

    def pick(flag, key):
        return flag if flag is not None else published[key]

    return EvalSettings(
        task=bench.task, rows=rows, source=f"{source}, protocol {args.protocol} ({published['source']})",
        max_new_tokens=pick(args.max_new_tokens, "max_new_tokens"), temperature=pick(args.temperature, "temperature"),
        top_k=args.top_k or 0, top_p=pick(args.top_p, "top_p"),
        seed=args.seed if args.seed is not None else gen["seed"], dtype=args.dtype or dtype or "auto",
        vllm_gpu_memory_utilization=args.vllm_gpu_memory_utilization or gen["vllm_gpu_memory_utilization"],
        reflection_phrases=script.reflection_phrases, reward_settings=script.reward_settings(),
        chat_template_kwargs=chat_template_kwargs(gen),
    )


def library_versions() -> dict:
    """Versions of the libraries a number depends on (None: not installed)."""
    from importlib import metadata

    versions = {}
    for name in ("torch", "transformers", "trl", "math-verify", "vllm", "sympy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def add_avg_at_k(metrics: dict, records: list[dict], num_samples: int) -> None:
    """``avg@k``: the mean accuracy over the k samples of each problem, averaged over problems."""
    scored = [r["n_correct"] / num_samples for r in records if r.get("n_correct") is not None]
    if num_samples and "sampled" in metrics:
        metrics["sampled"] = {f"avg@{num_samples}": sum(scored) / len(scored) if scored else float("nan"),
                              **metrics["sampled"]}


def avg_rows(table: str, results: dict, num_samples: int, sampling: str) -> str:
    """The table with an ``avg@k`` row above its first sampled row."""
    key = f"avg@{num_samples}"
    values = [results[name]["metrics"].get("sampled", {}).get(key) for name in results]
    if not num_samples or all(v is None for v in values):
        return table
    row = f"| {key}, {sampling} | " + " | ".join("-" if v is None or v != v else f"{v:.3f}" for v in values) + " |"
    lines = table.splitlines()
    at = next((i for i, line in enumerate(lines) if f", {sampling} |" in line), len(lines))
    return "\n".join(lines[:at] + [row] + lines[at:])


# --------------------------------------------------------------------------- held-out problems


def held_out_rows(script, seed: int, args: EvalArguments) -> tuple[list[dict], str]:
    """(rows, where they come from): problems the recipe's training never saw, in its prompt format."""
    from data.loading import DataError

    task = script.task
    options = dict(template=script.prompt_template, system_prompt=script.system_prompt, on_bad_row=script.on_bad_row)
    if task == "countdown":
        options["question_style"] = script.countdown_question_style
    split = args.dataset_split or script.dataset_test_split

    def like_training(test_size: int):
        return script.build_dataset(seed, test_size)

    try:
        from data.prompts import resolve_template

        resolve_template(script.prompt_template)
        if args.dataset_name:
            return load_split(task, args.dataset_name, split, options), f"{args.dataset_name} [{split}]"
        if task == "countdown" and not script.dataset_name:
            if script.holdout_size:
                # Rebuilt exactly as training built it: the same problems it excluded.
                _, test, _ = like_training(script.holdout_size)
                return test, f"generated Countdown, the {len(test)} problems training held out (seed {seed})"
            return fresh_countdown(like_training(0)[0], script, seed, args.countdown_problems, options), \
                f"generated Countdown, {args.countdown_problems} problems outside the training set (seed {seed})"
        if script.dataset_name and Path(script.dataset_name).expanduser().is_file():
            if not script.holdout_size:
                raise EvalError(f"the recipe trains on all of {script.dataset_name} (holdout_size is 0): pass "
                                "--dataset_name with held-out data")
            _, test, _ = like_training(script.holdout_size)
            return test, f"{script.dataset_name}, the last {len(test)} rows (held out of training)"
        dataset = script.dataset_name
        return load_split(task, dataset, split, options), f"{dataset or 'openai/gsm8k'} [{split}]"
    except DataError as err:
        raise EvalError(str(err)) from None
    except ValueError as err:  # an unknown prompt template, a malformed row with on_bad_row: fail
        if isinstance(err, EvalError):
            raise
        raise EvalError(str(err).splitlines()[0]) from None


def load_split(task: str, dataset: str | None, split: str, options: dict) -> list[dict]:
    from data.countdown import load_countdown
    from data.gsm8k import load_gsm8k
    from data.math import load_math

    loader = {"gsm8k": load_gsm8k, "math": load_math}.get(task, load_countdown)
    rows, _ = loader(dataset, split=split, **options) if dataset else loader(split=split, **options)
    return rows


def fresh_countdown(train_rows, script, seed: int, n: int, options: dict) -> list[dict]:
    from data.countdown import countdown_key, countdown_to_r1_zero, generate_countdown

    seen = {countdown_key(r["nums"], r["target"]) for r in train_rows}
    # Another seed than training's, or every early draw would be a training problem to skip.
    raw = generate_countdown(n, seed=seed + 1, exclude=seen, **script.countdown_settings())
    return countdown_to_r1_zero(raw, source="generated countdown", **options)[0]


# --------------------------------------------------------------------------- models


class VLLMGenerator:
    """vLLM as a generate function (see scripts/lib/evaluation.py): ``n`` samples per prompt in one call."""

    def __init__(self, model_path: str, tokenizer, plan: EvalSettings, progress: bool):
        from vllm import LLM

        self.tokenizer, self.plan, self.progress = tokenizer, plan, progress
        self.llm = LLM(model=model_path, seed=plan.seed, dtype=plan.dtype,
                       gpu_memory_utilization=plan.vllm_gpu_memory_utilization)

    def __call__(self, prompts, samples_per_prompt: int = 1, greedy: bool = False):
        from vllm import SamplingParams  # vLLM is optional and heavy: imported only when used

        plan = self.plan
        params = SamplingParams(n=samples_per_prompt, temperature=0.0 if greedy else plan.temperature,
                                top_k=plan.top_k if plan.top_k > 0 else -1, top_p=plan.top_p,
                                max_tokens=plan.max_new_tokens, seed=plan.seed)
        outputs = self.llm.generate([render_prompt(p, self.tokenizer, plan.chat_template_kwargs) for p in prompts], params,
                                    use_tqdm=self.progress)
        texts = [c.text for out in outputs for c in out.outputs]
        lengths = [len(c.token_ids) for out in outputs for c in out.outputs]
        return texts, lengths

    def close(self) -> None:
        import gc

        import torch

        del self.llm
        gc.collect()
        torch.cuda.empty_cache()


class ModelGenerators:
    """The default way to get a generate function for a model name: load it, then vLLM or HF."""

    def __init__(self, plan: EvalSettings, args: EvalArguments):
        self.plan, self.args = plan, args
        self._tmp = None

    def __call__(self, name: str):
        plan, args = self.plan, self.args
        kind = model_kind(name)
        if args.use_vllm and kind != "adapter":  # vLLM loads the weights itself
            return VLLMGenerator(name, load_model_tokenizer(name, kind), plan, args.progress)
        model, tokenizer = load_trained(name, kind, plan.dtype)
        model = model.to("cuda" if torch.cuda.is_available() else "cpu")
        if args.use_vllm:  # an adapter: vLLM gets the merged model as a folder
            import tempfile

            self._tmp = tempfile.TemporaryDirectory(prefix="eval-merged-")
            model.save_pretrained(self._tmp.name)
            tokenizer.save_pretrained(self._tmp.name)
            del model
            torch.cuda.empty_cache()
            return VLLMGenerator(self._tmp.name, tokenizer, plan, args.progress)
        return HFGenerator(model, tokenizer, plan.max_new_tokens, temperature=plan.temperature, top_k=plan.top_k,
                           top_p=plan.top_p, seed=plan.seed, batch_size=args.batch_size, progress=args.progress,
                           chat_template_kwargs=plan.chat_template_kwargs)

    def release(self, generate) -> None:
        if hasattr(generate, "close"):
            generate.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


# --------------------------------------------------------------------------- run


def json_safe(value):
    """JSON has no NaN: an undefined rate (no checks to be honest about) is written as null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def main(argv=None, generators=None) -> int:
    """Run the evaluation; ``generators(name)`` gives a model's generate function (default: load the model)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    # Every model path is checked before anything slow: a typo in the last one fails at once.
    kinds = {name: model_kind(name) if generators is None else "injected" for name in args.models}
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    plan = make_plan(args)
    if generators is None:
        generators = ModelGenerators(plan, args)

    sampling = (f"T={plan.temperature:g}, top_p {plan.top_p:g}, {args.num_samples} samples" if is_benchmark(args)
                else f"T={plan.temperature:g}, {args.num_samples} samples")
    versions = library_versions()
    print(f"held-out: {plan.source}; scoring {len(plan.rows)} problems per model")
    print("libraries: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
    print("decoding: greedy" + (f" + {args.num_samples} samples at T={plan.temperature:g} (top_k {plan.top_k}, "
                                 f"top_p {plan.top_p:g})" if args.num_samples else "")
          + f", at most {plan.max_new_tokens} new tokens, seed {plan.seed}")
    results, started = {}, time.time()
    for i, name in enumerate(args.models, start=1):
        print(f"[{i}/{len(args.models)}] {name} ({kinds[name]})", flush=True)
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

    label = args.task if is_benchmark(args) else plan.task
    table = comparison_table({name: r["metrics"] for name, r in results.items()}, label, sampling)
    table = avg_rows(table, results, args.num_samples, sampling)
    print("\n" + table + "\n")
    output = Path(args.output_file or f"outputs/eval/{label}_{time.strftime('%Y%m%d-%H%M%S')}.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    settings = {key: value for key, value in asdict(plan).items() if key not in ("rows", "reward_settings")}
    payload = {
        "command": "python -m scripts.evaluate " + " ".join(argv),
        "task": plan.task, "benchmark": args.task if is_benchmark(args) else None,
        "held_out": plan.source, "n": len(plan.rows), "versions": versions,
        "settings": {**settings, "num_samples": args.num_samples, "pass_k": args.pass_k,
                     "backend": "vllm" if args.use_vllm else "transformers", "recipe": args.recipe,
                     "protocol": args.protocol if is_benchmark(args) else None},
        "table": table, "seconds": round(time.time() - started, 1),
        "models": list(results.values()),
    }
    output.write_text(json.dumps(json_safe(payload), indent=1))
    print(f"results and per-problem records: {output}")
    return 0



def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
