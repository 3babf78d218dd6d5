"""What ``make eval`` scores and how it decodes: its flags, resolved once against a recipe or a benchmark.

Settings come from ``--recipe`` (task, data, prompt template, temperature, top_k/top_p, completion
length, seed), so a checkpoint is measured the way it was trained; flags override them. Without a
recipe, the settings recorded by the run that wrote the model (its ``run_info.json``); failing that, or with
``--recorded_settings false``, the task's defaults (``scripts/lib/recipe/arguments.py``) and ``GRPOConfig``'s. A
benchmark (``--task math500|aime24|amc23|gsm8k``, ``data/benchmarks.py``) is decoded with its
published protocol instead (``--protocol``; flags override it).
"""

from __future__ import annotations

import importlib.util
import shlex
import warnings
from dataclasses import dataclass, field, fields

from data.benchmarks import BENCHMARKS, DEFAULT_PROTOCOL, PROTOCOLS, load_benchmark, protocol_settings
from data.loading import DataError
from data.prompts import resolve_template
from rewards import ACCURACY_REWARD_FOR_TASK
from scripts.lib.process.console import say
from scripts.lib.recipe.cli import parse_flags
from scripts.lib.recipe.arguments import R1ZeroArguments, chat_template_kwargs
from scripts.lib.recipe.parsing import parse_recipe
from scripts.lib.evaluation.eval_problems import EvalError
from scripts.lib.evaluation.eval_problems import eval_problem_rows
from scripts.lib.runs.run_files import recorded_run, recorded_train_argv


@dataclass
class EvalArguments:
    models: list[str] = field(
        default_factory=list,
        metadata={"help": "Models to compare, in table order: checkpoint dirs, exported folders, LoRA adapter "
                  "dirs or hub ids (the base model first, by convention)."},
    )
    recipe: str | None = field(
        default=None, metadata={"help": "Training recipe to take the task, eval problems, prompt and sampling from."}
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
    limit: int | None = field(default=None, metadata={"help": "Score only the first N eval problems."})
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
    recorded_settings: bool = field(
        default=True,
        metadata={"help": "Without --recipe: take the eval problems, prompt and sampling settings from the run that "
                  "wrote a checkpoint or exported model (its run_info.json), as it was trained. false: task defaults."},
    )


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
    recorded: str | None = None   # the model whose run's recorded recipe and flags were used


def parse_args(argv: list[str]) -> EvalArguments:
    """``EvalArguments`` from the command line, checked, with the sample counts filled in."""
    args = parse_flags(EvalArguments, argv, EvalError)
    if not args.models and args.recipe:
        args.models = recipe_models(args.recipe)
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
    if args.use_vllm and importlib.util.find_spec("vllm") is None:
        raise EvalError("--use_vllm: vLLM is not installed (pip install vllm, on a CUDA machine); "
                        "drop --use_vllm to generate with transformers")
    return args


def recipe_models(recipe: str) -> list[str]:
    """A recipe's own models, for ``make eval RECIPE=...`` without ``MODELS``: its starting model, and the
    model its training saved in ``output_dir`` once there is one. Says which, so nobody wonders."""
    from pathlib import Path

    script, training, model = _parse_quietly(["--config", recipe])
    trained = Path(training.output_dir)
    models = [model.model_name_or_path]
    if (trained / "config.json").is_file() or (trained / "adapter_config.json").is_file():
        models.append(str(trained))
        say(f"no MODELS given: evaluating {recipe}'s starting model {models[0]} and its trained model {trained}")
    else:
        say(f"no MODELS given: evaluating {recipe}'s starting model {models[0]} ({trained} holds no trained "
            "model yet: make train first)")
    return models


def _parse_quietly(argv: list[str]):
    # Only sampling settings are read: GPU-only training switches must not stop a CPU evaluation.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return parse_recipe([*argv, "--bf16", "false", "--fp16", "false", "--use_vllm", "false"])


def is_benchmark(args: EvalArguments) -> bool:
    """``--task`` names a benchmark; ``--task gsm8k`` with a recipe means the recipe's eval problems (its test split)."""
    return args.task in BENCHMARKS and not (args.recipe and args.task in ACCURACY_REWARD_FOR_TASK)


def recipe_settings(recipe: str | None, train_argv: list[str] | None = None):
    """(R1ZeroArguments, generation settings dict, model dtype) from the recipe, or the defaults.

    ``train_argv``: a run's recorded ``scripts.train`` flags (``--config`` included), instead of ``recipe``.
    """
    from trl import GRPOConfig  # builds nothing: only its field defaults are read

    if recipe is None and not train_argv:
        defaults = {f.name: f.default for f in fields(GRPOConfig)}
        return R1ZeroArguments(), defaults, None
    script, training, model = _parse_quietly(list(train_argv) if train_argv else ["--config", recipe])
    return script, vars(training), model.dtype


def recorded_argv(args: EvalArguments) -> tuple[str, list[str]] | None:
    """(model, its run's ``scripts.train`` flags) when ``make eval`` should score a model the way the run
    that wrote it was trained: no ``--recipe``, no other data, and ``--task`` (if given) the run's own.
    Models whose runs recorded different settings need ``--recipe`` to say which ones."""
    if args.recipe or args.dataset_name or not args.recorded_settings:
        return None
    found = {}
    for name in args.models:
        run = recorded_run(name)
        if run is not None and recorded_train_argv(run[1]) and (args.task is None or args.task == run[1].get("task")):
            found.setdefault(tuple(recorded_train_argv(run[1])), name)
    if len(found) > 1:
        raise EvalError("the models come from runs trained with different settings ("
                        + "; ".join(f"{name}: {' '.join(argv)}" for argv, name in found.items())
                        + "): pass --recipe to choose the held-out settings, or --recorded_settings false")
    return next(((name, list(argv)) for argv, name in found.items()), None)


def make_plan(args: EvalArguments) -> EvalSettings:
    """The problems and decoding settings: the recipe's eval problems (``eval_problem_rows``), or a benchmark's (``benchmark_plan``)."""
    recorded = None if is_benchmark(args) else recorded_argv(args)
    script, gen, dtype = recipe_settings(args.recipe, recorded[1] if recorded else None)
    if is_benchmark(args):
        return benchmark_plan(args, script, gen, dtype)
    if args.task and args.recipe and args.task != script.task:
        raise EvalError(f"--task {args.task}, but {args.recipe} is a {script.task} recipe: drop one of the two")
    script.task = args.task or script.task
    if args.prompt_template:
        script.prompt_template = args.prompt_template
    rows, source = eval_problem_rows(script, gen["seed"], args.dataset_name, args.dataset_split, args.countdown_problems)
    if args.limit:
        rows = rows[:args.limit]
    if not rows:
        raise EvalError(f"no eval problems in {source}")

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
        recorded=None if recorded is None else f"{recorded[0]} (python -m scripts.train {shlex.join(recorded[1])})",
    )


def benchmark_plan(args: EvalArguments, script, gen: dict, dtype) -> EvalSettings:
    """A benchmark's rows in the recipe's (else the R1-Zero) prompt, decoded as its protocol says."""
    bench = BENCHMARKS[args.task]
    if args.recipe and script.task != bench.task:
        raise EvalError(f"--task {args.task} is scored as {bench.task}, but {args.recipe} is a {script.task} recipe")
    published = protocol_settings(args.task, args.protocol)
    # The template the published numbers were measured with, unless a flag says otherwise.
    template = args.prompt_template or published.get("template") or script.prompt_template
    try:
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

    def pick(flag, key):
        return flag if flag is not None else published[key]

    return EvalSettings(
        task=bench.task, rows=rows,
        source=f"{source}, protocol {args.protocol} ({published['source']}), prompt_template {template}",
        max_new_tokens=pick(args.max_new_tokens, "max_new_tokens"), temperature=pick(args.temperature, "temperature"),
        top_k=args.top_k or 0, top_p=pick(args.top_p, "top_p"),
        seed=args.seed if args.seed is not None else gen["seed"], dtype=args.dtype or dtype or "auto",
        vllm_gpu_memory_utilization=args.vllm_gpu_memory_utilization or gen["vllm_gpu_memory_utilization"],
        reflection_phrases=script.reflection_phrases, reward_settings=script.reward_settings(),
        chat_template_kwargs=chat_template_kwargs(gen),
    )
