"""Where the training callbacks write: the TensorBoard writer of the run's one event file, the same texts
to Weights & Biases when the recipe reports there, and the "aha" custom-scalars dashboard (``AHA_LAYOUT``).
"""

from __future__ import annotations

import functools
import os
import re

from scripts.lib.measure.aha import (
    ACCURACY_CHECKING_KEY,
    ACCURACY_KEY,
    ACCURACY_NOT_CHECKING_KEY,
    ACCURACY_RATIO_KEY,
    FINAL_ACCURACY_KEY,
    FINAL_OK_TRUE_KEY,
    FIRST_TRY_KEY,
    FORMAT_KEY,
    HONEST_KEY,
    LENGTH_MEAN_KEY,
    LENGTH_P90_KEY,
    REFLECTION_KEY,
    RIGHT_TO_WRONG_KEY,
    SEARCHES_WITHOUT_HIT_KEY,
    TRIES_KEY,
    WRONG_TO_RIGHT_KEY,
)

# transformers' TensorBoardCallback prefixes training logs with "train/"; the custom-scalars plugin
# matches a chart's regexes with re.match against those full tags.
TB_PREFIX = "train/"


def _tags(*keys: str) -> list[str]:
    return [f"^{re.escape(TB_PREFIX + key)}$" for key in keys]


AHA_LAYOUT = {
    "aha": {
        "reward (weighted total)": ["Multiline", _tags("reward")],
        "reward means, one per reward function": ["Multiline", [rf"^{re.escape(TB_PREFIX)}rewards/[^/]+/mean$"]],
        "accuracy": ["Multiline", _tags(ACCURACY_KEY)],
        "format rate": ["Multiline", _tags(FORMAT_KEY)],
        # One tag per chart: TensorBoard draws every tag of a run in the run's one colour, so two
        # tags in one chart cannot be told apart; pairs sit side by side instead.
        "completion length: mean (tokens)": ["Multiline", _tags(LENGTH_MEAN_KEY)],
        "completion length: 90th percentile (tokens)": ["Multiline", _tags(LENGTH_P90_KEY)],
        "self-check share": ["Multiline", _tags(REFLECTION_KEY)],
        "honest checks (share of true claims)": ["Multiline", _tags(HONEST_KEY)],
        "final ok true (searches stopping on ok)": ["Multiline", _tags(FINAL_OK_TRUE_KEY)],
        "searches without a true hit": ["Multiline", _tags(SEARCHES_WITHOUT_HIT_KEY)],
        "accuracy, self-checking": ["Multiline", _tags(ACCURACY_CHECKING_KEY)],
        "accuracy, not self-checking": ["Multiline", _tags(ACCURACY_NOT_CHECKING_KEY)],
        "accuracy ratio (self-checking / not)": ["Multiline", _tags(ACCURACY_RATIO_KEY)],
        "Countdown: first-try accuracy": ["Multiline", _tags(FIRST_TRY_KEY)],
        "Countdown: final accuracy": ["Multiline", _tags(FINAL_ACCURACY_KEY)],
        "Countdown: wrong->right rate": ["Multiline", _tags(WRONG_TO_RIGHT_KEY)],
        "Countdown: right->wrong rate": ["Multiline", _tags(RIGHT_TO_WRONG_KEY)],
        "Countdown tries per completion": ["Multiline", _tags(TRIES_KEY)],
    }
}

TENSORBOARD_RUN = ("runs", "train")  # under output_dir; the before/after text goes there too


def log_into_one_tensorboard_run(trainer, resumed_at: int | None) -> None:
    """Every segment of a run (started, stopped, resumed) logs into ``<output_dir>/runs/train``, so
    TensorBoard shows one run, one colour, not a new ``runs/<time>`` at each resume.

    transformers' TensorBoardCallback takes its folder from ``TENSORBOARD_LOGGING_DIR`` (kept when set)
    and otherwise makes a new ``runs/<date>_<host>`` one per process. A resume from step N opens its
    writer with ``purge_step=N+1``: what an earlier segment logged past its last checkpoint (a kill
    between saves) is hidden, so each step shows once.
    """
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if not isinstance(callback, TensorBoardCallback):
            continue
        if callback.logging_dir is None:
            callback.logging_dir = os.path.join(trainer.args.output_dir, *TENSORBOARD_RUN)
        # The callback opens its writer on rank 0, at train start, through this factory.
        if resumed_at is not None and callback._SummaryWriter is not None:
            callback._SummaryWriter = functools.partial(callback._SummaryWriter, purge_step=resumed_at + 1)


def tensorboard_writer(trainer):
    """The SummaryWriter of the trainer's TensorBoardCallback (None when TensorBoard is off): every
    callback of the kit writes its scalars and texts into the run's one event file through it."""
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback) and callback.tb_writer is not None:
            return callback.tb_writer
    return None


def wandb_run(args):
    """The active Weights & Biases run when the recipe reports to wandb (``report_to: [tensorboard, wandb]``):
    the ``aha/*`` scalars reach it through the trainer's logs; the texts are logged here."""
    if "wandb" not in (args.report_to or []):
        return None
    try:
        import wandb
    except ImportError:
        return None
    return wandb.run


def log_text(writer, run, tag: str, text: str, step: int) -> None:
    """A text to TensorBoard and, when reporting to it, to wandb (as preformatted HTML at this step)."""
    if writer is not None:
        writer.add_text(tag, text, step)
    if run is not None:
        import html

        import wandb

        run.log({f"train/{tag}": wandb.Html(f"<pre>{html.escape(text)}</pre>"), "train/global_step": step})


def fence(text: str) -> str:
    # A fenced block keeps the model's text verbatim in TensorBoard's markdown view.
    return "```\n" + text.replace("```", "'''") + "\n```"
