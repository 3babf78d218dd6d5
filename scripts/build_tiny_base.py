"""Build the tiny offline base model a CPU recipe points to (``make train`` does this when it is missing).

    python -m scripts.build_tiny_base --config recipes/cpu_countdown_tiny.yaml        # build if missing
    python -m scripts.build_tiny_base --config recipes/cpu_countdown_tiny.yaml --force true

Reads the training recipe (for the task settings and the base-model recipe it names) and writes
the model, tokenizer and ``tiny_base_build.json`` to the recipe's ``model_name_or_path``.
"""

from __future__ import annotations

import shutil
import sys

from scripts.lib.config import RecipeError, parse_recipe


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    force = False
    if "--force" in argv:
        i = argv.index("--force")
        force = i + 1 < len(argv) and argv[i + 1].lower() in {"true", "1", "yes"}
        del argv[i:i + 2]
    try:
        script_args, training_args, model_args = parse_recipe(argv)
        if not script_args.tiny_base_recipe:
            raise RecipeError("this recipe has no tiny_base_recipe: its model comes from the hub or a local folder")
        from scripts.train import build_base_if_needed

        if force:
            shutil.rmtree(model_args.model_name_or_path, ignore_errors=True)
        build_base_if_needed(script_args, model_args, training_args)
    except RecipeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
