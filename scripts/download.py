"""`make download`: fetch exactly what a recipe needs from the Hugging Face hub.

    make download RECIPE=recipes/qwen2.5-0.5b-instruct_gsm8k.yaml                 # into the HF cache
    make download RECIPE=recipes/qwen2.5-0.5b-instruct_gsm8k.yaml LOCAL_DIR=/shared/r1zero   # plain folders
    python -m scripts.download --config recipes/qwen2.5-3b_countdown.yaml --dry-run   # the plan, no network

Downloads show progress bars, resume where they stopped, and end with the total size and where
everything went (the plan and the fetching are ``scripts/lib/recipe/hub.py``).

Compute nodes without internet: run this on a login node that shares the cache (same ``HF_HOME``),
then train with ``HF_HUB_OFFLINE=1``; or give ``--local-dir`` on shared storage and train with the
overrides it prints.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields

from trl import ModelConfig, TrlParser

from scripts.lib.recipe.cli import first_line, one_line_parser, run_cli
from scripts.lib.recipe.arguments import R1ZeroArguments
from scripts.lib.recipe.cli import RecipeError
from scripts.lib.recipe.yaml_file import check_keys, load_recipe_yaml, valid_keys
from scripts.lib.recipe.hub import download, local_paths, plan_for


@dataclass
class DownloadArguments:
    local_dir: str | None = field(
        default=None, metadata={"help": "Plain folders here instead of the HF cache (prints the recipe overrides)."}
    )
    dry_run: bool = field(default=False, metadata={"help": "Print what would be fetched; fetch nothing."})


def parse_for_download(argv: list[str]):
    """(R1ZeroArguments, ModelConfig, DownloadArguments) from ``--config`` and flags, without GRPOConfig.

    GRPOConfig is left out on purpose: it checks for a GPU when built, and downloads run on login
    nodes that have none. Its flags are accepted and ignored.
    """
    argv = list(argv)
    if "--config" not in argv or argv.index("--config") + 1 >= len(argv):
        raise RecipeError("usage: python -m scripts.download --config recipes/<recipe>.yaml [--local-dir DIR] [--dry-run]")
    path = argv[argv.index("--config") + 1]
    check_keys(load_recipe_yaml(path), path)
    flags = {a[2:].split("=", 1)[0].replace("-", "_"): None for a in argv if a.startswith("--") and a != "--config"}
    check_keys(flags, "command line", valid_keys() | {f.name for f in fields(DownloadArguments)})

    parser = one_line_parser(TrlParser, RecipeError)((R1ZeroArguments, ModelConfig, DownloadArguments))
    script_args, model_args, options, _training_only = parser.parse_args_and_config(argv, return_remaining_strings=True)
    if not model_args.model_name_or_path:
        raise RecipeError(f"{path}: model_name_or_path is not set")
    return script_args, model_args, options


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    script_args, model_args, options = parse_for_download(argv)
    plan = plan_for(script_args, model_args)
    recipe = argv[argv.index("--config") + 1]
    for note in plan.notes:
        print(f"nothing to fetch: {note}")
    if plan.is_empty():
        print(f"{recipe} needs nothing from the hub")
        return 0
    local_dir = options.local_dir
    if options.dry_run:
        if plan.model:
            print(f"would fetch model {plan.model.repo_id} ({', '.join(plan.model.allow_patterns)})")
        if plan.dataset:
            config = f" ({plan.dataset.config})" if plan.dataset.config else ""
            print(f"would fetch dataset {plan.dataset.repo_id}{config} splits {[s for _, s in plan.dataset.splits]}")
        return 0
    try:
        download(plan, local_dir)
    except RecipeError:
        raise
    except Exception as err:  # noqa: BLE001 - hub, network and disk errors: the user needs one line
        raise RecipeError(
            f"download failed ({type(err).__name__}: {first_line(err)}); check the name, "
            "`hf auth login` for gated models, and that this machine reaches huggingface.co (or set HF_ENDPOINT)"
        ) from None
    if local_dir:
        overrides = " ".join(local_paths(plan, local_dir)["overrides"])
        print(f"next: make train RECIPE={recipe} ARGS=\"{overrides}\"   (add HF_HUB_OFFLINE=1 without internet)")
    else:
        print(f"next: make train RECIPE={recipe}   (HF_HUB_OFFLINE=1 make train ... where there is no internet)")
    return 0


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
