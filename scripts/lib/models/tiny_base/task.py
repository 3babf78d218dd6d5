"""What a training recipe tells the tiny base, derived once: ``tiny_base_plan`` is where the recipe's
arguments enter the tiny base; from there on the base is built and checked from the plan's values.

``task`` is the training recipe's Countdown settings and prompt (the base is pretrained on the same
kind of problems and prompt, never on a held-out one); ``TinyBasePlan`` adds the folder and the base
recipe. Reading the plan imports no pretraining code.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from scripts.lib.recipe.arguments import R1ZeroArguments
from scripts.lib.recipe.yaml_file import load_recipe_yaml
from scripts.lib.models.tiny_base.config import TinyBaseConfig, read_tiny_base_recipe


def tiny_base_task(script_args, training_args) -> dict:
    """The training recipe's settings that the tiny base must share (same problems, same prompt)."""
    return {"countdown": script_args.countdown_settings(), "template": script_args.prompt_template,
            "question_style": script_args.countdown_question_style,
            "test_size": script_args.holdout_size, "seed": training_args.seed}


def recipe_tiny_base_task(recipe: str, holdout_size: int | None = None) -> dict:
    """``tiny_base_task`` as ``make train`` derives it from a recipe file, optionally with another
    held-out size (tests and benches build a small fixture base from the CPU recipe in seconds)."""
    values = load_recipe_yaml(recipe)
    fields = {k: v for k, v in values.items() if k in R1ZeroArguments.__dataclass_fields__}
    if holdout_size is not None:
        fields["holdout_size"] = holdout_size
    return tiny_base_task(R1ZeroArguments(**fields), SimpleNamespace(seed=values["seed"]))


@dataclass(frozen=True)
class TinyBasePlan:
    """The tiny base a training recipe asks for: built into ``folder`` from ``recipe`` (read as ``config``) for ``task``."""

    folder: str
    recipe: str
    config: TinyBaseConfig
    task: dict


def tiny_base_plan(script_args, training_args, model_args) -> TinyBasePlan | None:
    """The recipe's tiny base, or None when its model is not one (no ``tiny_base_recipe``)."""
    if not script_args.tiny_base_recipe:
        return None
    return TinyBasePlan(folder=model_args.model_name_or_path, recipe=script_args.tiny_base_recipe,
                        config=read_tiny_base_recipe(script_args.tiny_base_recipe),
                        task=tiny_base_task(script_args, training_args))
