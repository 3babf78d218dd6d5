"""Reading a recipe file: its YAML as a mapping, its keys checked against the three dataclasses, and
for a mistyped key the closest valid one (``did you mean ...?``). Every problem is one ``RecipeError`` line.
"""

from __future__ import annotations

import difflib
from dataclasses import fields
from pathlib import Path

from scripts.lib.recipe.arguments import R1ZeroArguments
from scripts.lib.recipe.cli import RecipeError


def recipe_dataclasses() -> tuple:
    """(R1ZeroArguments, GRPOConfig, ModelConfig): what a recipe sets, in the order commands receive them."""
    from trl import GRPOConfig, ModelConfig

    return (R1ZeroArguments, GRPOConfig, ModelConfig)


def valid_keys() -> set[str]:
    return {f.name for cls in recipe_dataclasses() for f in fields(cls) if f.init}


def closest_key_hint(key: str, keys) -> str:
    """`` (did you mean `x`?)`` for the closest of ``keys``, or an empty string."""
    match = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    return f" (did you mean `{match[0]}`?)" if match else ""


def load_recipe_yaml(path: str) -> dict:
    import yaml

    recipe = Path(path)
    if not recipe.is_file():
        raise RecipeError(f"recipe file not found: {path} (recipes live in recipes/, e.g. recipes/cpu_countdown_tiny.yaml)")
    try:
        data = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else "?"
        raise RecipeError(f"{path}:{line}: YAML syntax error: {err.problem}") from None
    except yaml.YAMLError as err:
        raise RecipeError(f"{path}: YAML syntax error: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe must be a YAML mapping of `key: value` lines")
    return data


def check_keys(recipe: dict, path: str, keys: set[str] | None = None) -> None:
    keys = valid_keys() if keys is None else keys
    for key in recipe:
        if key != "env" and key not in keys:
            raise RecipeError(f"{path}: unknown recipe key `{key}`{closest_key_hint(key, keys)}")
