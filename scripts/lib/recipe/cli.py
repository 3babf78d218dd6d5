"""The one way every command turns a user's mistake into one line: ``error: ...`` and exit code 2.

Two ways to read a command line, both raising ``UserError``: recipe-like commands parse dataclasses
the way TRL does (``scripts/lib/recipe/parsing.py``'s ``parse_recipe``; ``parse_flags`` for one dataclass of
flags, as ``make eval``); commands that read a run folder use ``command_line`` (argparse).

Library code raises ``UserError`` (or a subclass: ``RecipeError``, ``RunError``, ``ModelError``,
``EvalError``, ``PreflightFailed``) for anything the user can fix; ``data`` and ``rewards`` raise their
own ``DataError`` and ``UnknownRewardError``. ``run_cli(main)`` prints any of them as one line.
``--debug`` shows the traceback instead. Ctrl-C outside training exits 130 with a line.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import warnings
from dataclasses import fields

from data.loading import DataError
from rewards import UnknownRewardError
from scripts.lib.process.distributed import error_prefix


class UserError(ValueError):
    """A problem the user can fix (a recipe, a flag, a path), explained in one line."""


class RecipeError(UserError):
    """A problem with the user's recipe or command line, explained in one line."""


USER_ERRORS = (UserError, DataError, UnknownRewardError)

# Upstream deprecations the user can do nothing about (TRL 1.16's GRPOConfig sets the renamed
# `gradient_checkpointing` itself; transformers asks for `is_gradient_checkpointing`): silenced at the
# source, so a one-line error or the training console is not buried under them.
KNOWN_UPSTREAM_WARNINGS = (
    "`gradient_checkpointing` is deprecated",
    "`is_gradient_checkpointing` is deprecated",
)


def silence_upstream_warnings() -> None:
    for message in KNOWN_UPSTREAM_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=FutureWarning)


def first_line(err: Exception, limit: int = 200) -> str:
    """An exception's first line (its type's name if it has no text), at most ``limit`` characters."""
    text = str(err).strip()
    return text.splitlines()[0][:limit] if text else type(err).__name__


def run_cli(main, argv=None) -> int:
    """Run a command's ``main(argv)``: a user error is one ``error: ...`` line and exit code 2.

    ``--debug`` (ours, not a TrainingArguments field) is stripped and shows the full traceback
    instead. Ctrl-C outside training exits 130 with a line, not a traceback.
    """
    silence_upstream_warnings()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        return main(argv)
    except KeyboardInterrupt:
        if debug:
            raise
        # Outside trainer.train() (loading, scoring): no step to save; checkpoints on disk are kept.
        print("\ninterrupted: nothing new to save (checkpoints already written are kept)", file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        if debug:
            raise
        print(f"{error_prefix()}: {err}", file=sys.stderr)
        return 2


def one_line_parser(parser_class, error: type[UserError] = UserError):
    """``parser_class`` (argparse or a subclass: ``HfArgumentParser``, ``TrlParser``) whose usage mistakes
    raise ``error`` instead of printing the usage and exiting."""

    class OneLineParser(parser_class):
        def error(self, message):
            raise error(message)

    return OneLineParser


ArgumentParser = one_line_parser(argparse.ArgumentParser)


def command_line(doc: str, *arguments: tuple[str, dict]) -> ArgumentParser:
    """The parser of a small command: its description is ``doc``'s first paragraph, each argument a
    ``(name, add_argument options)`` pair.

    >>> command_line("Plot a run.\\n\\nMore.", ("run", {}), ("--out", {"help": "PNG"})).parse_args(["r"])
    Namespace(run='r', out=None)
    """
    parser = ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, options in arguments:
        parser.add_argument(name, **options)
    return parser


def parse_flags(cls, argv: list[str], error: type[UserError] = UserError):
    """One dataclass from ``--flag value`` pairs, parsed as TRL parses (``HfArgumentParser``).

    A mistake is ``error`` in one line; an unknown flag names the closest known one.
    """
    from transformers import HfArgumentParser

    names = [f.name for f in fields(cls)]
    try:
        (args,) = one_line_parser(HfArgumentParser, error)(cls).parse_args_into_dataclasses(args=argv)
    except ValueError as err:
        if isinstance(err, error):
            raise
        unknown = [a for a in argv if a.startswith("--") and a[2:].split("=")[0] not in names]
        if unknown:
            name = unknown[0][2:].split("=")[0]
            close = difflib.get_close_matches(name, names, n=1)
            raise error(f"unknown flag `--{name}`" + (f" (did you mean `--{close[0]}`?)" if close else "")) from None
        raise error(str(err).strip().splitlines()[0]) from None
    return args
