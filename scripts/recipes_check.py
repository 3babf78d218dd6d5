"""Every recipe beside its source: prints, per recipe, the source's value of each setting that decides a
run next to the recipe's, and fails on a difference the sidecar does not explain.

    make recipes-check
    python -m scripts.recipes_check --recipe recipes/qwen2.5-3b_countdown.yaml

The source values and the reasons for deliberate differences live in ``recipes/sources/sources.yaml``; the
recipe's values are read the way ``make train`` reads them (``scripts/lib/recipe/sources.py``). Exit 0
when every difference is marked deliberate; else exit 1 with one line per unexplained difference, per
`deliberate:` mark on a value that matches its source, and per recipe without an entry; a broken sidecar or recipe is one ``error:`` line and exit 2.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from scripts.lib.recipe.cli import parse_flags, run_cli
from scripts.lib.recipe.sources import check_all, format_table


@dataclass
class Arguments:
    recipe: list[str] = field(default_factory=list, metadata={"help": "Check only these recipe files (default: all)."})
    recipes_dir: str = field(default="recipes", metadata={"help": "Folder of recipes, with its sources/sources.yaml."})


def main(argv: list[str]) -> int:
    args = parse_flags(Arguments, argv)
    tables, problems = check_all(args.recipes_dir, only=args.recipe or None)
    for name, entry, rows in tables:
        print(format_table(name, entry, rows) + "\n")
    deliberate = sum(1 for _, _, rows in tables for r in rows if r.differs and r.reason)
    if problems:
        print(f"{len(problems)} unexplained difference(s):", file=sys.stderr)
        for line in problems:
            print(line, file=sys.stderr)
        return 1
    print(f"{len(tables)} recipes checked against their sources: {deliberate} deliberate differences, "
          "none unexplained")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
