"""Training's held-out rows before and after training: the scores, the table, a fair example and
``held_out.json``; and ``HeldOutEvalCallback``, the same rows scored every N steps during training.

The "before" scores are the base model's, taken when a run starts and kept in
``<output_dir>/held_out_before.json`` (``before_scores``): a run stopped and resumed, as often as it
is, ends with the table and ``held_out.json`` an uninterrupted run ends with.

These are the rows the recipe holds out of its training data (``holdout_size``). ``make eval`` scores the
same rows for generated Countdown/arithmetic and one-file recipes, a test split for GSM8K/MATH
(``eval_problems``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from transformers import TrainerCallback

from rewards.text import prompt_text, table_cell
from scripts.lib.evaluation.generation import HFGenerator, across_ranks
from scripts.lib.evaluation.pass_at_k import evaluate_generations
from scripts.lib.evaluation.scoring import REVISION_ROWS, json_safe, score_completions
from scripts.lib.measure.trace_grammar import one_try_per_line
from scripts.lib.process.console import say
from scripts.lib.recipe.arguments import chat_template_kwargs
from scripts.lib.process.distributed import is_main
from scripts.lib.runs.resume_logs import keep_records_up_to
from scripts.lib.runs.run_files import EVAL_HISTORY, HELD_OUT_BEFORE, write_json_atomically
from scripts.lib.training.writers import TENSORBOARD_RUN, tensorboard_writer


TABLE_KEYS = {"n", "format", "accuracy", "mean_length", *(key for key, _ in REVISION_ROWS)}


def before_after_table(before: dict, after: dict) -> str:
    """A markdown table of the held-out numbers before and after training, revision numbers included.

    >>> print(before_after_table({"n": 4, "format": 0.25, "accuracy": 0.0, "self_check": 0.5},
    ...                          {"n": 4, "format": 1.0, "accuracy": 0.5, "self_check": 0.75}))
    | held-out (n=4) | before | after |
    |---|---|---|
    | format rate | 0.250 | 1.000 |
    | accuracy | 0.000 | 0.500 |
    | self-check share | 0.500 | 0.750 |
    """
    keys = [("format", "format rate"), ("accuracy", "accuracy"), *REVISION_ROWS, ("mean_length", "mean length (tokens)")]
    lines = ["| held-out (n=%d) | before | after |" % before["n"], "|---|---|---|"]
    for key, label in keys:
        if key in before:
            lines.append(f"| {label} | {table_cell(before[key])} | {table_cell(after.get(key))} |")
    return "\n".join(lines)


def record_before_after(output_dir: str, before: dict, after: dict, example_prompt) -> None:
    """Keep the held-out numbers with the run: ``held_out.json`` and a TensorBoard text entry.

    The text shows the same held-out prompt answered before and after training, so the change in
    what the model writes can be read, not only plotted.
    """
    def numbers(scores: dict) -> dict:
        # None: a rate with nothing to measure (NaN until written as JSON, as "before" is: before_scores)
        return {k: v for k, v in scores.items() if isinstance(v, (int, float)) or (v is None and k in TABLE_KEYS)}

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"before": numbers(before), "after": numbers(after), "prompt": prompt_text(example_prompt),
               "example_before": before.get("example"), "example_after": after.get("example"),
               "verdict_before": before.get("verdict"), "verdict_after": after.get("verdict")}
    (out / "held_out.json").write_text(json.dumps(json_safe(payload), indent=2))
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # pragma: no cover - tensorboard is a dependency
        return
    # Into the training run's own folder: TensorBoard shows one run per output_dir, table included.
    writer = SummaryWriter(log_dir=str(out.joinpath(*TENSORBOARD_RUN)))
    writer.add_text("held_out/before_after", before_after_table(before, after) + "\n\n"
                    f"**prompt**: `{payload['prompt']}`\n\n**before**:\n\n```\n{one_try_per_line(str(payload['example_before']))}"
                    f"\n```\n\n**after**:\n\n```\n{one_try_per_line(str(payload['example_after']))}\n```", 0)
    writer.close()


def held_out_scores(label: str, model, tokenizer, rows, script_args, training_args) -> dict | None:
    """Training's held-out numbers ("before" and "after"): one sampled completion per held-out
    prompt, scored like training scores them, printed in one line (rank 0); None without held-out rows.

    On several processes each rank samples its share of the prompts (``across_ranks``), every
    completion with its own seed, so the numbers are the one-process run's; every rank gets them back.
    """
    if not rows:
        return None
    generate = across_ranks(HFGenerator(
        model, tokenizer, training_args.max_completion_length, temperature=training_args.temperature,
        top_k=training_args.top_k or 0, top_p=training_args.top_p, seed=training_args.seed,
        chat_template_kwargs=chat_template_kwargs(training_args)))
    texts, lengths = generate([r["prompt"] for r in rows])
    scores = score_completions(rows, texts, script_args.task, lengths, script_args.reflection_phrases,
                               script_args.reward_settings())
    scores["texts"] = texts
    say(f"held-out {label}: {score_line(scores)}")
    return scores


def score_line(scores: dict) -> str:
    return ", ".join(f"{k}={v:.3f}" for k, v in scores.items()
                     if k in ("format", "accuracy", "self_check", "mean_length") and v is not None)


def before_scores(resume: str | None, model, tokenizer, rows, script_args, training_args) -> dict | None:
    """The held-out "before" numbers of a run, the same on every resume: scored on the base model when the
    run starts and kept in ``<output_dir>/held_out_before.json`` (written whole, before step 1); a
    resumed run reads them back. A resumed run whose file is gone, or was written for other held-out
    rows, scores the base again (``model`` is still the base here: the checkpoint loads in ``train()``)
    and says so. Every rank reads or scores alike; rank 0 writes.

    A fresh run uses the scores as read back from JSON too, so its table is the one a resume prints.
    """

    if not rows:
        return None
    path = Path(training_args.output_dir) / HELD_OUT_BEFORE
    if resume is not None:
        kept = _read_before(path, rows)
        if kept is not None:
            say(f"held-out before (scored when the run started, {HELD_OUT_BEFORE}): {score_line(kept)}")
            return kept
        say(f"held-out before: {path} is {'unreadable or for other held-out rows' if path.exists() else 'missing'}; "
            f"scoring the base model {model.config._name_or_path} again")
    scores = json_safe(held_out_scores("before", model, tokenizer, rows, script_args, training_args))
    scores["rows_key"] = _rows_key(rows)
    if is_main():
        write_json_atomically(path, scores)
    return json.loads(json.dumps(scores))


def _rows_key(rows) -> str:
    """Which held-out rows scores are for: the hash of their prompts."""

    return hashlib.sha256(json.dumps([row["prompt"] for row in rows], sort_keys=True).encode()).hexdigest()[:16]


def _read_before(path, rows) -> dict | None:

    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return kept if isinstance(kept, dict) and kept.get("rows_key") == _rows_key(rows) else None


def fair_example(before: dict, after: dict) -> int:
    """The held-out problem to show: one the base got wrong and the trained model got right by
    self-checking (a ``reflection_phrases`` word: the keyword ``self_check``), else wrong -> right at all,
    else the first.

    >>> ex = lambda *cs: {"per_example": [{"correct": c, "self_check": s} for c, s in cs]}
    >>> fair_example(ex((0.0, 0), (0.0, 0), (0.0, 1)), ex((1.0, 0), (0.0, 1), (1.0, 1)))
    2
    >>> fair_example(ex((0.0, 0), (1.0, 0)), ex((1.0, 0), (1.0, 1)))
    0
    """
    pairs = list(zip(before["per_example"], after["per_example"]))
    for needs_self_check in (True, False):
        for i, (b, a) in enumerate(pairs):
            if a["correct"] == 1.0 and b["correct"] != 1.0 and (a["self_check"] or not needs_self_check):
                return i
    return 0


def show_before_after(output_dir: str, before: dict, after: dict, rows) -> None:
    """Print the before/after table and one held-out problem answered before and after (a fair
    witness: ``fair_example``), and keep them with the run."""

    print("\n" + before_after_table(before, after))
    print(f"before: {before['verdict']}\nafter:  {after['verdict']}")
    i = fair_example(before, after)
    before["example"], after["example"] = before["texts"][i].strip(), after["texts"][i].strip()
    row = rows[i]
    problem = (f"numbers {' '.join(map(str, row['nums']))}, target {row['target']}" if row.get("nums") is not None
               else prompt_text(row["prompt"])[-300:])
    print(f"\nexample, held-out problem {i} ({problem}):"
          f"\nbefore: {before['example']}\nafter:\n{one_try_per_line(after['example'])}")
    record_before_after(output_dir, before, after, rows[i]["prompt"])


class HeldOutEvalCallback(TrainerCallback):
    """Every ``every`` steps, the ``make eval`` numbers of the policy being trained, under ``eval/``.

    The same code as ``scripts/evaluate.py`` (greedy pass@1, sampled pass@k, format rate, mean
    length, self-check share) on the held-out prompts, written to TensorBoard as ``eval/pass@1_greedy``,
    ``eval/pass@1``, ``eval/format``, … and appended to ``<output_dir>/eval_history.jsonl``. Off unless
    the recipe sets ``holdout_eval_steps``; it costs one generation pass over the held-out set each time.
    Every completion has its own seed, so training samples what it would have sampled anyway. On
    several processes each rank generates its share of the prompts (in lockstep under ZeRO-3 / FSDP)
    and rank 0 alone prints and writes.
    """

    def __init__(self, rows, task: str, every: int, tokenizer, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int = 0, top_p: float = 1.0, seed: int = 0, num_samples: int = 4, batch_size: int = 64,
                 reflection_phrases=None, reward_settings: dict | None = None, output_dir: str | None = None,
                 chat_template_kwargs: dict | None = None):
        self.rows, self.task, self.every, self.tokenizer = list(rows), task, every, tokenizer
        self.sampling = dict(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                             seed=seed, batch_size=batch_size, chat_template_kwargs=chat_template_kwargs)
        self.num_samples, self.reflection_phrases, self.reward_settings = num_samples, reflection_phrases, reward_settings
        self.output_dir = output_dir
        self.trainer = None

    @classmethod
    def from_recipe(cls, script_args, training_args, rows, tokenizer):
        return cls(rows, script_args.task, script_args.holdout_eval_steps, tokenizer,
                   training_args.max_completion_length, temperature=training_args.temperature,
                   top_k=training_args.top_k or 0, top_p=training_args.top_p, seed=training_args.seed,
                   num_samples=script_args.holdout_eval_samples, reflection_phrases=script_args.reflection_phrases,
                   reward_settings=script_args.reward_settings(), output_dir=training_args.output_dir,
                   chat_template_kwargs=chat_template_kwargs(training_args))

    def attach(self, trainer):
        self.trainer = trainer
        trainer.add_callback(self)
        return self

    def evaluate(self, model) -> dict:
        """The flat ``eval/…`` scalars for ``model`` now."""
        import torch

        generate = HFGenerator(model, self.tokenizer, **self.sampling)
        devices = list(range(torch.cuda.device_count()))
        with torch.random.fork_rng(devices=devices):
            metrics = evaluate_generations(generate, self.rows, self.task, self.num_samples,
                                           (1, self.num_samples) if self.num_samples else (),
                                           self.reflection_phrases, self.reward_settings)["metrics"]
        scalars = {f"eval/{key}_greedy": value for key, value in metrics["greedy"].items()}
        scalars.update({f"eval/{key}": value for key, value in metrics.get("sampled", {}).items()})
        return {key: value for key, value in scalars.items() if value == value}  # NaN: nothing to log

    def on_train_begin(self, args, state, control, **kwargs):
        # A resumed run scores again the steps past its checkpoint: their old records go (runs/resume_logs.py).
        if self.output_dir and state.is_world_process_zero:
        
            keep_records_up_to(Path(self.output_dir) / EVAL_HISTORY, state.global_step)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        # Every rank generates its share (and, under ZeRO-3, steps generate in lockstep); rank 0 reports.
        if not self.every or state.global_step % self.every or model is None:
            return
        scalars = self.evaluate(model)
        if not state.is_world_process_zero:
            return
        say(f"held-out eval at step {state.global_step}: "
              + ", ".join(f"{key[5:]}={value:.3f}" for key, value in scalars.items()))
        if self.trainer is not None:
            writer = tensorboard_writer(self.trainer)
            if writer is not None:
                for key, value in scalars.items():
                    writer.add_scalar(key, value, state.global_step)
                writer.flush()
        if self.output_dir:
                
            with (Path(self.output_dir) / EVAL_HISTORY).open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": state.global_step, **scalars}) + "\n")
