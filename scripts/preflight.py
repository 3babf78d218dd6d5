"""`make preflight`: every check of ``scripts/lib/preflight/checks.py`` for a recipe, without training.

    make preflight RECIPE=recipes/cpu_countdown_tiny.yaml
    python -m scripts.preflight --config recipes/cpu_countdown_tiny.yaml --samples 16   # + model sample

Checks the template against the rewards, the data, (with ``--samples N``) N prompts sampled from
the starting model, and a memory estimate. Prints the report; a failed check exits with code 2.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from rewards import get_rewards
from scripts.lib.recipe.cli import run_cli
from scripts.lib.recipe.parsing import parse_recipe
from scripts.lib.models.loading import load_config_and_tokenizer, load_model_and_tokenizer
from scripts.lib.models.tiny_base.build import is_current
from scripts.lib.models.tiny_base.task import tiny_base_plan
from scripts.lib.preflight.checks import run_checks


@dataclass
class PreflightArguments:
    samples: int = field(
        default=0, metadata={"help": "Prompts to sample from the starting model and score (0: no model sampling)."}
    )


def main(argv=None) -> int:
    script_args, training_args, model_args, options = parse_recipe(argv, extra=(PreflightArguments,))
    samples = options.samples

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
    tiny_base = tiny_base_plan(script_args, training_args, model_args)
    if tiny_base is not None and not is_current(tiny_base):
        report.section("resources").warnings.append(
            f"the tiny base in {tiny_base.folder} was built for other settings than "
            f"{tiny_base.recipe} and this recipe: `make train` rebuilds it first, so these numbers "
            "describe the old one")
    print(report.render())
    if samples:  # the base-model audit, last: is there reflection for RL to amplify?
        print(report.section("samples").counts["verdict"])
    if report.failures:
        print(f"error: preflight: {report.failures[0]}", file=sys.stderr)
        return 2
    return 0


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
