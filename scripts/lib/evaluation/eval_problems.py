"""The eval problems: what ``make eval`` scores, problems a recipe's training never saw, in its prompt format.

GSM8K's and MATH's ``test`` split (a hub id, a local ``.jsonl`` file or a folder with ``test.jsonl``);
for generated Countdown and arithmetic, the problems the recipe's training held out (same seed and settings), or,
for Countdown only, fresh ones outside its training set (arithmetic needs ``holdout_size``); for a recipe that reads one file, the tail of it that training held out.

Not to be confused with training's held-out rows (``holdout_size``, scored before and after training by
``before_after``): for generated Countdown/arithmetic and a one-file recipe they are the same problems, otherwise
(GSM8K, MATH, benchmarks) the eval problems are a test split training's held-out rows are not drawn from.
"""

from __future__ import annotations

from pathlib import Path

from data.arithmetic import load_arithmetic
from data.countdown import countdown_key, countdown_to_r1_zero, generate_countdown, load_countdown
from data.gsm8k import load_gsm8k
from data.loading import DataError
from data.math import load_math
from data.prompts import resolve_template
from scripts.lib.recipe.cli import UserError


class EvalError(UserError):
    """A problem with ``make eval``'s command line, a model path or its problems, in one line."""


def eval_problem_rows(script, seed: int, dataset_name: str | None = None, dataset_split: str | None = None,
                  countdown_problems: int = 512) -> tuple[list[dict], str]:
    """(the eval problems, where they come from) for the recipe's ``R1ZeroArguments`` ``script`` and training ``seed``.

    ``dataset_name`` evaluates on other data (every row of the split); ``countdown_problems`` is how
    many fresh problems generated Countdown makes when the recipe holds out none.
    """
    task = script.task
    options = dict(template=script.prompt_template, system_prompt=script.system_prompt, on_bad_row=script.on_bad_row)
    if task == "countdown":
        options["question_style"] = script.countdown_question_style
    split = dataset_split or script.dataset_test_split

    def like_training(test_size: int):
        return script.build_dataset(seed, test_size)

    try:
        resolve_template(script.prompt_template)
        if dataset_name:
            return load_split(task, dataset_name, split, options), f"{dataset_name} [{split}]"
        if task == "countdown" and not script.dataset_name:
            if script.holdout_size:
                # Rebuilt exactly as training built it: the same problems it excluded.
                _, test, _ = like_training(script.holdout_size)
                return test, f"generated Countdown, the {len(test)} problems training held out (seed {seed})"
            return fresh_countdown(like_training(0)[0], script, seed, countdown_problems, options), \
                f"generated Countdown, {countdown_problems} problems outside the training set (seed {seed})"
        if task == "arithmetic" and not script.dataset_name:
            if not script.holdout_size:
                raise EvalError("the recipe holds out no arithmetic problems (holdout_size is 0): set holdout_size")
            _, test, _ = like_training(script.holdout_size)
            return test, f"generated arithmetic, the {len(test)} problems training held out (seed {seed})"
        if script.dataset_name and Path(script.dataset_name).expanduser().is_file():
            if not script.holdout_size:
                raise EvalError(f"the recipe trains on all of {script.dataset_name} (holdout_size is 0): pass "
                                "--dataset_name with held-out data")
            _, test, _ = like_training(script.holdout_size)
            return test, f"{script.dataset_name}, the last {len(test)} rows (held out of training)"
        dataset = script.dataset_name
        return load_split(task, dataset, split, options), f"{dataset or 'openai/gsm8k'} [{split}]"
    except DataError as err:
        raise EvalError(str(err)) from None
    except ValueError as err:  # an unknown prompt template, a malformed row with on_bad_row: fail
        if isinstance(err, EvalError):
            raise
        raise EvalError(str(err).splitlines()[0]) from None


def load_split(task: str, dataset: str | None, split: str, options: dict) -> list[dict]:
    loader = {"gsm8k": load_gsm8k, "arithmetic": load_arithmetic, "math": load_math}.get(task, load_countdown)
    rows, _ = loader(dataset, split=split, **options) if dataset else loader(split=split, **options)
    return rows


def fresh_countdown(train_rows, script, seed: int, n: int, options: dict) -> list[dict]:
    seen = {countdown_key(r["nums"], r["target"]) for r in train_rows}
    # Another seed than training's, or every early draw would be a training problem to skip.
    raw = generate_countdown(n, seed=seed + 1, exclude=seen, **script.countdown_settings())
    return countdown_to_r1_zero(raw, source="generated countdown", **options)[0]
