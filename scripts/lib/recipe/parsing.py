"""Recipe parsing: YAML + CLI flags -> (R1ZeroArguments, GRPOConfig, ModelConfig), the TRL way, once.

Precedence is TRL's: dataclass defaults < recipe YAML (``--config``) < command-line flags. The recipe file
is read once and the command line parsed once, by TRL's parser, into one merged view of the settings;
the GPU check reads that view, the dataclasses are built from it, and ``validate`` reads the dataclasses.
Every mistake a user can make in a recipe becomes one ``RecipeError`` line naming the problem (and, for a
mistyped key, the closest valid key); ``scripts.lib.recipe.cli.run_cli`` prints it and exits with code 2.
"""

from __future__ import annotations

import os
import sys
from argparse import Namespace
from dataclasses import fields

from scripts.lib.recipe.cli import RecipeError, first_line, one_line_parser, silence_upstream_warnings
from scripts.lib.recipe.validation import check_gpu_settings, validate
from scripts.lib.recipe.yaml_file import check_keys, closest_key_hint, load_recipe_yaml, recipe_dataclasses, valid_keys


def parse_dataclass_yaml(path: str, cls):
    """One dataclass from a YAML file, with the same one-line errors as a training recipe."""
    from trl import TrlParser

    recipe = load_recipe_yaml(path)
    check_keys(recipe, path, {f.name for f in fields(cls) if f.init})
    try:
        return TrlParser((cls,)).parse_dict(recipe)[0]
    except (ValueError, TypeError) as err:
        raise RecipeError(f"{path}: {first_line(err, limit=10_000)}") from None


def _check_cli_flags(argv: list[str], extra: tuple = ()) -> None:
    keys = valid_keys() | {f.name for cls in extra for f in fields(cls) if f.init}
    for arg in argv:
        if arg.startswith("--") and arg != "--config":
            key = arg[2:].split("=", 1)[0].replace("-", "_")
            if key not in keys:
                raise RecipeError(f"unknown flag `--{key}`{closest_key_hint(key, keys)}")



def parse_recipe(argv: list[str] | None = None, extra: tuple = ()):
    """(R1ZeroArguments, GRPOConfig, ModelConfig) from ``--config recipe.yaml`` and flags, or RecipeError.

    ``extra``: a command's own dataclasses of flags (``make preflight``'s ``--samples``), parsed with
    the recipe and returned after the three.
    """
    from trl import TrlParser

    silence_upstream_warnings()  # printed by GRPOConfig itself, before any one-line error
    argv = list(sys.argv[1:] if argv is None else argv)
    recipe, flags = {}, argv
    if "--config" in argv:
        index = argv.index("--config")
        if index + 1 >= len(argv):
            raise RecipeError("--config needs a recipe path")
        path = argv[index + 1]
        recipe = load_recipe_yaml(path)
        if not recipe:
            raise RecipeError(f"{path}: a recipe must be a YAML mapping of `key: value` lines (this one is empty)")
        check_keys(recipe, path)
        flags = argv[:index] + argv[index + 2:]
    _check_cli_flags(flags, extra)

    parser = one_line_parser(TrlParser, RecipeError)(recipe_dataclasses() + tuple(extra))
    try:
        settings = _merged_settings(parser, recipe, flags)
        check_gpu_settings(settings)
        script_args, training_args, model_args, *options = _build_dataclasses(parser, settings)
    except RecipeError:
        raise
    except (ValueError, TypeError) as err:
        message = first_line(err, limit=10_000)
        hint = next((fix for problem, fix in _HINTS.items() if problem in message), "")
        raise RecipeError(message.rstrip(".") + hint if hint else message) from None
    validate(script_args, training_args, model_args)
    return (script_args, training_args, model_args, *options)


def _merged_settings(parser, recipe: dict, flags: list[str]) -> Namespace:
    """Every setting once, as ``TrlParser.parse_args_and_config`` merges them (the recipe's values become
    the parser's defaults, then the flags are parsed), before any dataclass's ``__post_init__`` runs."""
    env = recipe.get("env", {})
    if not isinstance(env, dict):
        raise RecipeError("`env` field should be a dict in the YAML file.")
    for key, value in env.items():
        os.environ[key] = str(value)
    parser.set_defaults_with_config(**{key: value for key, value in recipe.items() if key != "env"})
    settings, remaining = parser.parse_known_args(args=flags)
    if remaining:
        raise RecipeError(f"Some specified arguments are not used by the HfArgumentParser: {remaining}")
    return settings


def _build_dataclasses(parser, settings: Namespace) -> list:
    """The parser's dataclasses from the merged settings, as ``HfArgumentParser.parse_args_into_dataclasses``
    builds them (a dataclass's own checks raise ``ValueError`` here)."""
    values = vars(settings)
    return [cls(**{f.name: values[f.name] for f in fields(cls) if f.init and f.name in values})
            for cls in parser.dataclass_types]


# TRL's own checks name the problem, not the fix; the fix for the ones recipes hit.
_HINTS = {
    "must be divisible by num_generations": ": make per_device_train_batch_size x processes x steps_per_generation "
    "(default: gradient_accumulation_steps) a multiple of num_generations",
}
