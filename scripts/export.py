"""Turn a checkpoint into a clean Hugging Face model folder you can load, share or push.

    make export CKPT=outputs/cpu_countdown_tiny/checkpoint-100 OUT=exported/countdown-100
    python -m scripts.export outputs/cpu_countdown_tiny/checkpoint-100 exported/countdown-100

The folder holds the weights as safetensors (LoRA adapters merged into the base with peft, so no
peft is needed to load it), the tokenizer, a generation config that samples like training did, and
a ``README.md`` model card naming the recipe, the step and the metrics logged at that step
(``scripts/lib/models/hf_export.py``). It loads with ``AutoModelForCausalLM.from_pretrained(OUT)``. Optimizer
and RNG states are left behind.
"""

from __future__ import annotations

import sys

from scripts.lib.recipe.cli import command_line, run_cli
from scripts.lib.models.hf_export import export


def main(argv=None) -> int:
    args = command_line(
        __doc__,
        ("ckpt", {"help": "a checkpoint folder (<run>/checkpoint-N) or a run's final model folder"}),
        ("out", {"help": "a new folder for the exported model"}),
    ).parse_args(argv)
    out = export(args.ckpt, args.out)
    print(f"exported {args.ckpt} -> {out} (load it: AutoModelForCausalLM.from_pretrained({str(out)!r}))")
    return 0


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
