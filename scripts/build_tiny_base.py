"""Build the tiny offline base model a CPU recipe points to (``make train`` does this when it is missing).

    python -m scripts.build_tiny_base --config recipes/cpu_countdown_tiny.yaml        # build if missing
    python -m scripts.build_tiny_base --config recipes/cpu_countdown_tiny.yaml --force true

Reads the training recipe (for the task settings and the base-model recipe it names) and writes
the model, tokenizer and ``tiny_base_build.json`` to the recipe's ``model_name_or_path``.
"""

from __future__ import annotations

import shutil
import sys

from scripts.lib.cli import run_cli
from scripts.lib.config import RecipeError, parse_recipe
from scripts.lib.models import build_base_if_needed


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    force = False
    if "--force" in argv:
        i = argv.index("--force")
        force = i + 1 < len(argv) and argv[i + 1].lower() in {"true", "1", "yes"}
        del argv[i:i + 2]
    script_args, training_args, model_args = parse_recipe(argv)
    if not script_args.tiny_base_recipe:
        raise RecipeError("this recipe has no tiny_base_recipe: its model comes from the hub or a local folder")
    if force:
        shutil.rmtree(model_args.model_name_or_path, ignore_errors=True)
    build_base_if_needed(script_args, model_args, training_args)
    return 0


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
