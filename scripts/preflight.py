"""`make preflight`: every check of ``scripts/lib/preflight.py`` for a recipe, without training.

    make preflight RECIPE=recipes/cpu_countdown_tiny.yaml
    python -m scripts.preflight --config recipes/cpu_countdown_tiny.yaml --samples 16   # + model sample

Checks the template against the rewards, the data, (with ``--samples N``) N prompts sampled from
the starting model, and a memory estimate. Prints the report; a failed check exits with code 2.
"""

from __future__ import annotations

import sys

from rewards import get_rewards
from scripts.lib.cli import run_cli
from scripts.lib.config import RecipeError, parse_recipe
from scripts.lib.models import load_config_and_tokenizer, load_model_and_tokenizer, tiny_base_is_current
from scripts.lib.preflight import run_checks


def take_flag(argv: list[str], flag: str) -> str | None:
    """Remove ``flag VALUE`` (or ``flag=VALUE``) from ``argv`` and return the value."""
    for i, arg in enumerate(argv):
        if arg == flag:
            if i + 1 >= len(argv):
                raise RecipeError(f"{flag} needs a value")
            value = argv[i + 1]
            del argv[i:i + 2]
            return value
        if arg.startswith(flag + "="):
            del argv[i]
            return arg.split("=", 1)[1]
    return None


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    samples_flag = take_flag(argv, "--samples")
    try:
        samples = int(samples_flag or 0)
    except ValueError:
        raise RecipeError(f"--samples needs a whole number of prompts, got {samples_flag!r}") from None
    script_args, training_args, model_args = parse_recipe(argv)

    import torch  # after parsing: a recipe mistake is reported without waiting for torch
    from transformers import set_seed

    set_seed(training_args.seed)
    model = None
    if samples:
        model, tokenizer = load_model_and_tokenizer(model_args, training_args)
        if torch.cuda.is_available() and not training_args.use_cpu:
            model.to("cuda")
        model_config = model.config
    else:
        model_config, tokenizer = load_config_and_tokenizer(model_args, training_args)
    train_rows, holdout_rows, skipped = script_args.build_dataset(training_args.seed)
    reward_funcs = get_rewards(script_args.reward_names(), script_args.reward_settings())
    report = run_checks(script_args, training_args, model_args, tokenizer, model_config, train_rows, holdout_rows,
                        skipped, reward_funcs, model=model, samples=samples)
    if script_args.tiny_base_recipe and not tiny_base_is_current(script_args, training_args, model_args):
        report.section("resources").warnings.append(
            f"the tiny base in {model_args.model_name_or_path} was built for other settings than "
            f"{script_args.tiny_base_recipe} and this recipe: `make train` rebuilds it first, so these numbers "
            "describe the old one")
    print(report.render())
    if report.failures:
        print(f"error: preflight: {report.failures[0]}", file=sys.stderr)
        return 2
    return 0


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
