"""Build the tiny offline base model a CPU recipe points to (``make train`` does this when it is missing).

    python -m scripts.build_tiny_base --config recipes/cpu_countdown_tiny.yaml        # build if missing
    python -m scripts.build_tiny_base --force --config recipes/cpu_countdown_tiny.yaml   # rebuild

Reads the training recipe (for the task settings and the base-model recipe it names) and writes
the model, tokenizer and ``tiny_base_build.json`` to the recipe's ``model_name_or_path``.
"""

from __future__ import annotations

import shutil
import sys

from scripts.lib.recipe.cli import run_cli
from scripts.lib.recipe.cli import RecipeError
from scripts.lib.recipe.parsing import parse_recipe
from scripts.lib.models.tiny_base.build import build_base_if_needed
from scripts.lib.models.tiny_base.task import tiny_base_plan


def pop_force(argv: list[str]) -> bool:
    """Remove ``--force`` (alone or with true/false) from ``argv``; never takes the next flag with it.

    >>> argv = ["--force", "--config", "r.yaml"]; pop_force(argv), argv
    (True, ['--config', 'r.yaml'])
    >>> argv = ["--config", "r.yaml", "--force", "false"]; pop_force(argv), argv
    (False, ['--config', 'r.yaml'])
    """
    if "--force" not in argv:
        return False
    i = argv.index("--force")
    has_value = i + 1 < len(argv) and not argv[i + 1].startswith("--")
    force = (argv[i + 1].lower() if has_value else "true") in {"true", "1", "yes"}
    del argv[i:i + 1 + has_value]
    return force


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    force = pop_force(argv)
    script_args, training_args, model_args = parse_recipe(argv)
    tiny_base = tiny_base_plan(script_args, training_args, model_args)
    if tiny_base is None:
        raise RecipeError("this recipe has no tiny_base_recipe: its model comes from the hub or a local folder")
    if force:
        shutil.rmtree(tiny_base.folder, ignore_errors=True)
    build_base_if_needed(tiny_base, progress=not training_args.disable_tqdm)
    return 0


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
