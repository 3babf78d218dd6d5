"""Score a model's completions on held-out prompts with the training rewards.

Shared by the before/after table of ``scripts/train.py``, ``scripts/evaluate.py``, the preflight and
the in-training eval, so every number the kit prints is computed one way.
"""

from __future__ import annotations

import math

from transformers import TrainerCallback

from rewards import ACCURACY_REWARD_FOR_TASK, format_reward, get_reward
from rewards.text import completion_text, table_cell
from scripts.lib.measure.reflection import has_self_check, revision_numbers, verdict_line
from scripts.lib.recipe.cli import UserError
from scripts.lib.recipe.arguments import chat_template_kwargs
from scripts.lib.process.console import say
from scripts.lib.evaluation.generation import HFGenerator, across_ranks
from scripts.lib.runs.run_files import EVAL_HISTORY
from scripts.lib.models.sampling import sample_completions
from scripts.lib.training.writers import tensorboard_writer


class EvalError(UserError):
    """A problem with ``make eval``'s command line, a model path or the held-out data, in one line."""


# The revision numbers (``scripts.lib.measure.reflection.revision_numbers``) every table shows, in order:
# (key in the scores, label). Countdown-only rows are left out for other tasks.
REVISION_ROWS = [
    ("self_check", "self-check share"),
    ("accuracy_self_checking", "accuracy, self-checking"),
    ("accuracy_rest", "accuracy, not self-checking"),
    ("accuracy_ratio", "accuracy ratio (checking / not)"),
    ("tries_mean", "tries per completion"),
    ("first_try_accuracy", "first-try accuracy"),
    ("wrong_to_right", "wrong->right rate"),
    ("right_to_wrong", "right->wrong rate"),
    ("hit_in_think", "true hit inside <think>"),
    ("honest_checks", "honest checks"),
    ("final_ok_true", "final ok true (searches stopping on ok)"),
    ("searches_without_hit", "searches without a true hit"),
]
COUNTDOWN_ONLY = ("tries_mean", "first_try_accuracy", "wrong_to_right", "right_to_wrong", "hit_in_think",
                  "honest_checks", "final_ok_true", "searches_without_hit")
KEYWORD_ONLY_NOTE = ("{task}: reflection rows are keyword-based only (phrases: {phrases}); tries, first-try "
                     "accuracy and wrong->right need Countdown, whose tries code can check")


def score_completions(rows, completions, task: str, lengths=None, reflection_phrases=None,
                      reward_settings: dict | None = None) -> dict:
    """Format rate, accuracy, mean length and the revision numbers (``REVISION_ROWS``).

    ``summary`` holds ``scripts.lib.measure.reflection.revision_numbers`` whole (what ``reflection_verdict`` reads).
    """
    columns = {key: [row.get(key) for row in rows] for key in ("solution", "nums", "target")}
    prompts = [row["prompt"] for row in rows]
    accuracy_name = ACCURACY_REWARD_FOR_TASK[task]
    accuracy_fn = get_reward(accuracy_name, **(reward_settings or {}).get(accuracy_name, {}))
    formats = format_reward(completions, prompts=prompts)
    correct = accuracy_fn(completions, prompts=prompts, **columns)
    texts = [completion_text(c) for c in completions]
    summary = revision_numbers(texts, correct, formats, task, columns["target"], columns["nums"], reflection_phrases)
    scored = [c for c in correct if c is not None]
    result = {
        "n": len(rows),
        "format": mean(formats),
        "accuracy": mean(scored),
        "self_check": summary["self_check_share"],
        "mean_length": mean(lengths) if lengths else mean([len(t) for t in texts]),
    }
    for key, _ in REVISION_ROWS[1:]:
        if key in summary and (task == "countdown" or key not in COUNTDOWN_ONLY):
            result[key] = summary[key]
    result["summary"] = summary
    result["verdict"] = verdict_line(summary, f"{len(texts)} completions")
    checks = [has_self_check(t, reflection_phrases) for t in texts]
    result["per_example"] = [
        {"correct": c, "format": f, "self_check": s} for c, f, s in zip(correct, formats, checks)
    ]
    return result


def mean(values) -> float:
    """The mean of the values that are not None (None: "cannot be checked"); NaN when none are left.

    >>> mean([1.0, None, 0.0]), mean([None])
    (0.5, nan)
    """
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else float("nan")


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
    import json
    from pathlib import Path

    from rewards.text import prompt_text
    from scripts.lib.measure.trace_grammar import one_try_per_line

    def numbers(scores: dict) -> dict:
        return {k: v for k, v in scores.items() if isinstance(v, (int, float))}

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
    writer = SummaryWriter(log_dir=str(out / "runs" / "held_out"))
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
    say(f"held-out {label}: " + ", ".join(f"{k}={v:.3f}" for k, v in scores.items()
                                          if k in ("format", "accuracy", "self_check", "mean_length")))
    return scores


def fair_example(before: dict, after: dict) -> int:
    """The held-out problem to show: one the base got wrong and the trained model got right by
    self-checking (going back after a failed try), else wrong -> right at all, else the first.

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
    from rewards.text import prompt_text
    from scripts.lib.measure.trace_grammar import one_try_per_line

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


# --------------------------------------------------------------------------- held-out evaluation
# `make eval` and the in-training eval hook share what follows. ``generate`` is a generate function
# (``scripts/lib/evaluation/generation.py``: ``HFGenerator``, ``VLLMGenerator``) or anything a test injects.


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` are correct (Chen et al. 2021, "Codex").

    The probability that at least one of ``k`` samples drawn without replacement from the ``n`` is
    correct: ``1 - C(n - c, k) / C(n, k)``. Plain ``c / n`` is its ``k = 1`` case.

    >>> pass_at_k(10, 0, 1), pass_at_k(4, 1, 1), pass_at_k(10, 10, 5)
    (0.0, 0.25, 1.0)
    >>> round(pass_at_k(4, 1, 2), 6)   # 1 - C(3,2)/C(4,2) = 1 - 3/6
    0.5
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def _gold(row: dict) -> dict:
    return {key: row[key] for key in ("solution", "nums", "target") if key in row}


def _summary(scores: dict) -> dict:
    keys = ("format", "mean_length", *(key for key, _ in REVISION_ROWS))
    return {key: scores[key] for key in keys if key in scores}


def evaluate_generations(generate, rows, task: str, num_samples: int = 8, pass_k=(1, 8),
                         reflection_phrases=None, reward_settings: dict | None = None) -> dict:
    """Score one model on held-out ``rows`` with the training rewards: metrics and per-problem records.

    Greedy decoding gives ``pass@1``; ``num_samples`` sampled completions per problem give the
    unbiased ``pass@k`` for each ``k`` in ``pass_k`` (0 samples: greedy only). Format rate, mean
    length, self-check share (and for Countdown the share of honest checks) are reported for both.
    Problems whose gold answer cannot be checked (reward ``None``) are left out of pass@k.
    """
    prompts = [row["prompt"] for row in rows]
    generate = across_ranks(generate)  # on several processes: each rank its share
    texts, lengths = generate(prompts, samples_per_prompt=1, greedy=True)
    _check_count(texts, lengths, len(prompts), "greedy")
    scores = score_completions(rows, texts, task, lengths, reflection_phrases, reward_settings)
    greedy = {"pass@1": scores["accuracy"], **_summary(scores)}
    records = [
        {"prompt": row["prompt"], "gold": _gold(row), "completion": text, "correct": _verdict(ex["correct"]),
         "format": ex["format"] == 1.0, "self_check": ex["self_check"], "length": length}
        for row, text, length, ex in zip(rows, texts, lengths, scores["per_example"])
    ]
    metrics = {"n": len(rows), "greedy": greedy}
    if num_samples:
        ks = sorted({k for k in pass_k if k <= num_samples})
        texts, lengths = generate(prompts, samples_per_prompt=num_samples, greedy=False)
        _check_count(texts, lengths, len(prompts) * num_samples, "sampled")
        repeated = [row for row in rows for _ in range(num_samples)]
        scores = score_completions(repeated, texts, task, lengths, reflection_phrases, reward_settings)
        per_k = {k: [] for k in ks}
        for i, record in enumerate(records):
            chunk = slice(i * num_samples, (i + 1) * num_samples)
            examples = scores["per_example"][chunk]
            record["samples"] = [
                {"completion": text, "correct": _verdict(ex["correct"]), "format": ex["format"] == 1.0,
                 "self_check": ex["self_check"], "length": length}
                for text, length, ex in zip(texts[chunk], lengths[chunk], examples)
            ]
            if any(ex["correct"] is None for ex in examples):
                record["n_correct"] = None
                continue
            record["n_correct"] = sum(ex["correct"] == 1.0 for ex in examples)
            for k in ks:
                record[f"pass@{k}"] = pass_at_k(num_samples, record["n_correct"], k)
                per_k[k].append(record[f"pass@{k}"])
        # reflection@k: the share of problems where any of k samples self-checks (same estimator as pass@k)
        checks = [ex["self_check"] for ex in scores["per_example"]]
        reflection = {f"reflection@{k}": mean(pass_at_k(num_samples, sum(checks[i * num_samples:(i + 1) * num_samples]), k)
                                              for i in range(len(records))) for k in ks}
        metrics["sampled"] = {**{f"pass@{k}": mean(v) for k, v in per_k.items()}, **reflection, **_summary(scores)}
        metrics["num_samples"] = num_samples
    # The audit reads the sampled completions when there are some (T>0 shows what RL would sample).
    metrics["reflection"] = json_safe(scores["summary"])
    metrics["verdict"] = scores["verdict"].replace("reflection audit (", f"reflection audit "
                                                    f"({'sampled' if num_samples else 'greedy'}, ", 1)
    return {"metrics": metrics, "records": records}


def _verdict(reward) -> bool | None:
    """A record's ``correct``: None when the gold answer cannot be checked."""
    return None if reward is None else reward == 1.0


def _check_count(texts, lengths, expected: int, what: str) -> None:
    if len(texts) != expected or len(lengths) != expected:
        raise ValueError(f"the generate function returned {len(texts)} {what} completions and {len(lengths)} "
                         f"lengths for {expected} requested")


_ROW_LABELS = [("pass@1", "pass@1"), ("format", "format rate"), ("mean_length", "mean length (tokens)"),
               *REVISION_ROWS]


def comparison_table(results: dict, task: str, sampling: str = "sampled") -> str:
    """A markdown table, one column per model: ``results`` maps a model name to its ``metrics``."""
    names = list(results)
    first = results[names[0]]
    lines = [f"| held-out {task} (n={first['n']}) | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]

    def row(label: str, values, digits: int) -> None:
        lines.append(f"| {label} | " + " | ".join(table_cell(v, digits) for v in values) + " |")

    for mode, suffix in (("greedy", "greedy"), ("sampled", sampling)):
        if mode not in first:
            continue
        keys = [key for key in first[mode] if key.startswith(("pass@", "reflection@")) and key != "pass@1"]
        labels = _ROW_LABELS[:1] + [(key, key) for key in keys] + _ROW_LABELS[1:]
        for key, label in labels:
            if key in first[mode]:
                row(f"{label}, {suffix}", [results[name][mode].get(key) for name in names],
                    1 if key == "mean_length" else 3)
    return "\n".join(lines)



def add_avg_at_k(metrics: dict, records: list[dict], num_samples: int) -> None:
    """``avg@k``: the mean accuracy over the k samples of each problem, averaged over problems."""
    scored = [r["n_correct"] / num_samples for r in records if r.get("n_correct") is not None]
    if num_samples and "sampled" in metrics:
        metrics["sampled"] = {f"avg@{num_samples}": sum(scored) / len(scored) if scored else float("nan"),
                              **metrics["sampled"]}


def avg_rows(table: str, results: dict, num_samples: int, sampling: str) -> str:
    """The table with an ``avg@k`` row above its first sampled row."""
    key = f"avg@{num_samples}"
    values = [results[name]["metrics"].get("sampled", {}).get(key) for name in results]
    if not num_samples or all(v is None for v in values):
        return table
    row = f"| {key}, {sampling} | " + " | ".join(table_cell(v) for v in values) + " |"
    lines = table.splitlines()
    at = next((i for i, line in enumerate(lines) if f", {sampling} |" in line), len(lines))
    return "\n".join(lines[:at] + [row] + lines[at:])


def library_versions() -> dict:
    """Versions of the libraries a number depends on (None: not installed)."""
    from importlib import metadata

    versions = {}
    for name in ("torch", "transformers", "trl", "math-verify", "vllm", "sympy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def json_safe(value):
    """JSON has no NaN: an undefined rate (no checks to be honest about) is written as null.

    >>> json_safe({"honest_checks": float("nan"), "pass@1": [0.5]})
    {'honest_checks': None, 'pass@1': [0.5]}
    """
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


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
            import json
            from pathlib import Path

            with (Path(self.output_dir) / EVAL_HISTORY).open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": state.global_step, **scalars}) + "\n")
