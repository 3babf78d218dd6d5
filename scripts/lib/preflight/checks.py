"""Preflight: catch the silent dead runs before they cost GPU hours.

The failures R1-Zero users report most are not crashes but runs that cannot learn: a format reward
that is always 0 because the template pre-fills ``<think>`` where the reward cannot see it
(open-r1 #235/#256), an accuracy reward stuck at 0 because gold answers never parse (TRL #3903),
completions cut at ``max_completion_length`` (open-r1 #363), groups whose rewards are all equal so
the advantage and the loss are 0 (TRL #3452), an OOM hundreds of steps in. Each check below is a
function that returns a ``Section``; ``make train`` runs the fast ones (``preflight_or_stop``),
``make preflight`` (``scripts/preflight.py``) runs them all. The memory estimate is ``scripts/lib/preflight/memory.py``.

    make preflight RECIPE=recipes/cpu_countdown_tiny.yaml
    python -m scripts.preflight --config recipes/cpu_countdown_tiny.yaml --samples 16   # + model sample

Checks:

* **template**: a prompt rendered exactly as TRL will (template, chat template with
  ``chat_template_kwargs``, prefill), followed by probe completions — a correct one in the expected
  format, a wrong answer, one with the opening ``<think>`` toggled, no tags, empty. Every format and
  accuracy reward must give the correct completion its highest score and must not score all probes
  alike; the accuracy reward must give the wrong answer its lowest.
* **data**: rows dropped at load, kept rows whose gold the accuracy reward cannot check (``None``)
  or scores wrong, empty prompts, prompts that do not fit the model's context with
  ``max_completion_length`` (TRL 1.16 has no ``max_prompt_length``: nothing truncates them), held-out
  prompts that are also training prompts.
* **samples** (``--samples N``): N prompts x ``num_generations`` completions from the starting model,
  scored with the recipe's rewards: format rate, accuracy, truncation rate, and the share of groups
  whose rewards are all equal (TRL logs it as ``frac_reward_zero_std``: no learning signal).
* **resources**: parameters, LoRA, and a rough per-device memory estimate against the GPU present.
* **setup**: known traps of the GRPO/vLLM/PEFT settings (``scripts/lib/preflight/traps.py``): vLLM
  colocated with PEFT on several GPUs, vLLM server mode with no server, a generation batch that does not
  split into groups on a common GPU count, stop strings with ``mask_truncated_completions``.

A failed check stops ``make train`` with one line and exit code 2; ``preflight: false`` in a
recipe skips it.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from fractions import Fraction

from data.prompts import build_r1_zero_prompt, render_prompt
from rewards import ACCURACY_REWARD_FOR_TASK, get_reward
from rewards.text import asks_for_boxed
from rewards.accuracy_rewards import parse_number
from rewards.math_rewards import fast_math_verdict
from scripts.lib.preflight.chat_audit import special_tags, tag_shares, tag_token_counts, template_additions, turn_end_token
from scripts.lib.recipe.cli import UserError
from scripts.lib.recipe.arguments import chat_template_kwargs
from scripts.lib.process.console import say
from scripts.lib.evaluation.evaluation import mean, score_completions
from scripts.lib.models.sampling import sample_completions
from scripts.lib.preflight.traps import find_traps
from scripts.lib.preflight.memory import count_text, dtype_bytes, estimate_memory, gib, gpu_total, parameter_counts, ram_total

# Report thresholds, not training settings: when a sampled number says the run will likely not learn.
TRUNCATION_WARN = 0.2
ZERO_STD_WARN = 0.5
# Training rows used as probe prompts for the template check.
PROBE_ROWS = 3
REASONING = "I work it out step by step and check it."


class PreflightFailed(UserError):
    """A hard preflight failure: the run would not learn. ``scripts/train.py`` prints it and exits 2."""


@dataclass
class Section:
    """One check's outcome: a summary line, what to fix (failures) and what to look at (warnings)."""

    name: str
    summary: str = ""
    warnings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "FAIL" if self.failures else "warn" if self.warnings else "ok"


@dataclass
class Report:
    sections: list[Section]

    @property
    def failures(self) -> list[str]:
        return [f"{s.name}: {f}" for s in self.sections for f in s.failures]

    @property
    def warnings(self) -> list[str]:
        return [f"{s.name}: {w}" for s in self.sections for w in s.warnings]

    def section(self, name: str) -> Section:
        return next(s for s in self.sections if s.name == name)

    def render(self) -> str:
        lines = ["preflight"]
        for s in self.sections:
            lines.append(f"  {s.name:<10} {s.status:<4} {s.summary}")
            lines += [f"{'':16}FAIL: {f}" for f in s.failures]
            lines += [f"{'':16}warning: {w}" for w in s.warnings]
        if self.failures:
            verdict = (f"FAILED ({len(self.failures)} failure(s), {len(self.warnings)} warning(s)): "
                       "this run would not learn")
        else:
            verdict = f"passed ({len(self.warnings)} warning(s))"
        lines.append(f"preflight {verdict}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- rendering and probes


def thinking_state(rendered: str) -> str:
    """``open`` if the prompt leaves a ``<think>`` open for the completion to continue, ``closed`` if
    it ends with a finished think block, else ``none`` (the completion must open ``<think>`` itself).

    >>> thinking_state("Think in <think> </think>. Assistant:"), thinking_state("Assistant: <think> Let me see.")
    ('none', 'open')
    >>> thinking_state("<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n")
    'closed'
    """
    if rendered.rfind("<think>") > rendered.rfind("</think>"):
        return "open"
    return "closed" if rendered.rstrip().endswith("</think>") else "none"


def _probe_texts(state: str, right: str, wrong: str, boxed: bool = False) -> dict[str, str]:
    """Completions as a model would write them after a prompt in ``state``, correct one first; after a
    prompt that asks for ``\\boxed{}`` (``boxed``, the Qwen-Math template), answers are boxed, not tagged."""
    tail_right = f"{REASONING} </think> <answer> {right} </answer>"
    tail_wrong = f"{REASONING} </think> <answer> {wrong} </answer>"
    if boxed:
        correct, wrong_text = f"{REASONING} The answer is \\boxed{{{right}}}.", f"{REASONING} The answer is \\boxed{{{wrong}}}."
        toggled = f"<think> {correct}"
    elif state == "open":
        correct, wrong_text, toggled = f" {tail_right}", f" {tail_wrong}", f" <think> {tail_right}"
    elif state == "closed":
        correct, wrong_text = f"<answer> {right} </answer>", f"<answer> {wrong} </answer>"
        toggled = f"<think> {tail_right}"
    else:
        correct, wrong_text, toggled = f" <think> {tail_right}", f" <think> {tail_wrong}", f" {tail_right}"
    # Correct but looping: a repetition penalty fires here and nowhere else.
    repetitive = correct.replace(REASONING, " ".join([REASONING] * 6), 1)
    return {"correct": correct, "wrong answer": wrong_text, "opening <think> toggled": toggled,
            "repetitive": repetitive, "no tags": f" {REASONING} The answer is {right}.", "empty": ""}


def solve_countdown(nums, target) -> str | None:
    """An equation over ``nums`` (each once, + - * /) equal to ``target``, by search; None if none.

    For probe rows only (hub Countdown data has no ``solution`` column); it is exponential in len(nums).

    >>> from rewards import countdown_reward
    >>> countdown_reward([f"<answer> {solve_countdown([3, 2, 3], 18)} </answer>"], nums=[[3, 2, 3]], target=[18])
    [1.0]
    >>> solve_countdown([1, 1], 5) is None
    True
    """
    goal = Fraction(int(target))
    apply = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
             "/": lambda a, b: a / b if b else None}

    def search(items):
        if len(items) == 1:
            return items[0][0] if items[0][1] == goal else None
        for i, j in itertools.permutations(range(len(items)), 2):
            rest = [it for k, it in enumerate(items) if k not in (i, j)]
            for op, fn in apply.items():
                value = fn(items[i][1], items[j][1])
                if value is not None:
                    found = search(rest + [(f"({items[i][0]} {op} {items[j][0]})", value)])
                    if found:
                        return found
        return None

    if not nums or len(nums) > 5:
        return None
    return search([(str(int(n)), Fraction(int(n))) for n in nums])


def _gsm8k_answers(row: dict, solve: bool) -> tuple[str | None, str | None]:
    gold = row.get("solution")
    if gold is None:
        return None, None
    value = parse_number(str(gold))
    if value is None:
        return str(gold), None
    wrong = value + 1
    return str(gold), str(wrong.numerator) if wrong.denominator == 1 else str(float(wrong))


def _countdown_answers(row: dict, solve: bool) -> tuple[str | None, str | None]:
    right = row.get("solution") or (solve_countdown(row.get("nums"), row.get("target")) if solve else None)
    # One extra literal: the value misses the target and the numbers no longer match.
    return (right, f"{right} + 1") if right else (None, None)


def _math_answers(row: dict, solve: bool) -> tuple[str | None, str | None]:
    gold = row.get("solution")
    if gold is None:
        return None, None
    # A number no MATH gold equals unless it is that number.
    wrong = "1" if fast_math_verdict(str(gold), "0") else "0"
    return str(gold), wrong


# How to write a right and a wrong answer for each task (keys: the tasks of ACCURACY_REWARD_FOR_TASK).
GOLD_ANSWERS = {"gsm8k": _gsm8k_answers, "countdown": _countdown_answers, "math": _math_answers}


def reward_name(fn) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def _as_completion(text: str, prompt):
    # TRL hands chat completions to rewards as a message list, plain ones as a string.
    return text if isinstance(prompt, str) else [{"role": "assistant", "content": text}]


def call_rewards(reward_funcs, rows, completions, tokenizer=None) -> dict[str, list]:
    """Each reward's scores, called with the keyword arguments TRL passes (dataset columns included)."""
    prompts = [r["prompt"] for r in rows]
    columns = {key: [r.get(key) for r in rows] for key in {k for r in rows for k in r} if key != "prompt"}
    texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
    completion_ids = tokenizer(texts, add_special_tokens=False)["input_ids"] if tokenizer is not None else None
    scores = {}
    for fn in reward_funcs:
        name = reward_name(fn)
        try:
            values = fn(prompts=prompts, completions=completions, completion_ids=completion_ids, trainer_state=None,
                        log_extra=lambda *a, **k: None, log_metric=lambda *a, **k: None, **columns)
        except Exception as err:  # noqa: BLE001 - a user's reward may raise anything; report it in one line
            raise PreflightFailed(f"reward {name} raised {type(err).__name__}: {str(err)[:200]}") from None
        if len(values) != len(completions):
            raise PreflightFailed(f"reward {name} returned {len(values)} scores for {len(completions)} completions")
        scores[name] = list(values)
    return scores


def _is_format_reward(fn) -> bool:
    return getattr(fn, "__module__", "") == "rewards.format_rewards"


def _prefill_hint(state: str, chat: bool, rendered: str) -> str:
    tail = rendered[-40:].replace("\n", "\\n")
    if state == "open" and chat:
        return ("the chat template pre-fills `<think>` after the generation prompt, and rewards get the messages, "
                "not the rendered text: use a chat template without the prefill, or a plain prompt_template "
                "such as r1_zero_prefill")
    if state == "open":
        return (f"the prompt pre-fills `<think>` (it ends `…{tail}`) but a reward only sees a prefill when "
                "the prompt ends with `<think>`: end the template with `<think>`, or drop the prefill")
    if state == "closed":
        return (f"the prompt already closes the think block (it ends `…{tail}`, e.g. Qwen3 with "
                "enable_thinking=False), so the model will not write `<think>`: remove it from the template or "
                "chat_template_kwargs")
    return ""


def check_template(rows, reward_funcs, tokenizer, task: str, chat_template_kwargs: dict | None = None) -> Section:
    """Probe completions after real prompts: does each reward fire for a correct completion only?"""
    section = Section("template")
    accuracy_name = ACCURACY_REWARD_FOR_TASK.get(task)
    probes = []
    for row in rows:
        right, wrong = GOLD_ANSWERS[task](row, solve=True)
        if right is not None and wrong is not None:
            probes.append((row, right, wrong))
        if len(probes) == PROBE_ROWS:
            break
    if not probes:
        section.summary = "not checked"
        section.warnings.append("no training row has a gold answer to build a correct completion from")
        return section

    try:
        rendered = render_prompt(probes[0][0]["prompt"], tokenizer, chat_template_kwargs)
    except ValueError as err:  # transformers: no chat template on this tokenizer
        section.summary = "prompt could not be rendered"
        section.failures.append(f"the prompts are chat messages but the chat template fails ({str(err)[:120]}): "
                                "a base model needs a plain prompt_template (r1_zero, compact)")
        return section
    state = thinking_state(rendered)
    chat = not isinstance(probes[0][0]["prompt"], str)
    hint = _prefill_hint(state, chat, rendered)

    batch_rows, batch_completions, labels = [], [], []
    for row, right, wrong in probes:
        prompt_state = thinking_state(render_prompt(row["prompt"], tokenizer, chat_template_kwargs))
        for label, text in _probe_texts(prompt_state, right, wrong, asks_for_boxed(row["prompt"])).items():
            batch_rows.append(row)
            batch_completions.append(_as_completion(text, row["prompt"]))
            labels.append(label)
    scores = call_rewards(reward_funcs, batch_rows, batch_completions, tokenizer)
    per_row = len(labels) // len(probes)

    correct_scores, wrong_scores = {}, {}
    for fn in reward_funcs:
        name = reward_name(fn)
        core = _is_format_reward(fn) or name == accuracy_name
        problem = None
        for start in range(0, len(labels), per_row):
            by_label = dict(zip(labels[start:start + per_row], scores[name][start:start + per_row]))
            correct = by_label["correct"]
            correct_scores.setdefault(name, correct)
            wrong_scores.setdefault(name, by_label["wrong answer"])
            if correct is None:
                continue  # the gold cannot be checked: counted by the data check
            # The toggled opening tag is a format question; a length-scaled reward may rightly prefer
            # the one-token-shorter variant.
            values = {k: v for k, v in by_label.items()
                      if v is not None and (k != "opening <think> toggled" or _is_format_reward(fn))}
            if len(set(values.values())) == 1:
                problem = (f"{name} gives {correct} to every probe (correct, wrong answer, repetitive, no tags, "
                           "empty): it can never fire, no learning signal")
            elif not core:
                continue  # a penalty or length-scaled reward may rightly rank a short or empty probe higher
            elif correct < max(values.values()):
                better = max(values, key=values.get)
                problem = f"{name} scores a correct completion {correct} but `{better}` {values[better]}"
            elif name == accuracy_name and values["wrong answer"] > min(values.values()):
                problem = (f"{name} scores a wrong answer {values['wrong answer']}, above its minimum "
                           f"{min(values.values())}")
            if problem:
                break
        if problem:
            text = problem + (f"; {hint}" if hint and _is_format_reward(fn) else "")
            (section.failures if core else section.warnings).append(text)

    opening = {"none": "the model opens <think>", "open": "<think> pre-filled", "closed": "think block pre-closed"}
    if asks_for_boxed(probes[0][0]["prompt"]):
        opening["none"] = "answer asked in \\boxed{}"
    shown = ", ".join(f"{k}={v}" for k, v in correct_scores.items())
    section.summary = (f"prompt ends `…{rendered[-24:]!s}`".replace("\n", "\\n") + f" ({opening[state]}); "
                       f"correct completion: {shown}")
    if accuracy_name in wrong_scores:
        section.summary += f"; wrong answer: {accuracy_name}={wrong_scores[accuracy_name]}"
    return section


# --------------------------------------------------------------------------- data


def prompt_key(prompt) -> str:
    return prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True)


def prompt_token_lengths(prompts, tokenizer, chat_template_kwargs: dict | None = None) -> list[int]:
    """Prompt lengths in tokens as TRL counts them (plain text gets the tokenizer's special tokens)."""
    if not prompts:
        return []
    if isinstance(prompts[0], str):
        return [len(ids) for ids in tokenizer(list(prompts))["input_ids"]]
    texts = [render_prompt(p, tokenizer, chat_template_kwargs) for p in prompts]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def check_dataset(train_rows, holdout_rows, skipped: int, task: str, accuracy_reward, tokenizer,
                  max_completion_length: int, context_limit: int | None, empty_prompt=None,
                  chat_template_kwargs: dict | None = None) -> Section:
    """Dead rows: gold the accuracy reward cannot check, empty prompts, prompts that do not fit."""
    section = Section("data")
    rows = list(train_rows) + list(holdout_rows)
    checkable, golds = [], []
    for row in rows:
        right, _ = GOLD_ANSWERS[task](row, solve=False)
        if right is not None:
            checkable.append(row)
            golds.append(_as_completion(_probe_texts("none", right, right, asks_for_boxed(row["prompt"]))["correct"],
                                        row["prompt"]))
    scores = call_rewards([accuracy_reward], checkable, golds)[reward_name(accuracy_reward)] if checkable else []
    unparsable = sum(s is None for s in scores)
    scored_wrong = sum(s is not None and s <= 0 for s in scores)
    empty = sum(r["prompt"] == empty_prompt or not _prompt_text(r["prompt"]).strip() for r in rows)
    lengths = prompt_token_lengths([r["prompt"] for r in rows], tokenizer, chat_template_kwargs)
    longest = max(lengths, default=0)
    over = sum(n + max_completion_length > context_limit for n in lengths) if context_limit else 0
    train_keys = {prompt_key(r["prompt"]) for r in train_rows}
    in_train = sum(prompt_key(r["prompt"]) in train_keys for r in holdout_rows)
    section.counts = {"train_rows": len(train_rows), "holdout_rows": len(holdout_rows), "skipped_at_load": skipped,
                      "unparsable_gold": unparsable, "gold_scored_wrong": scored_wrong,
                      "no_reference": len(rows) - len(checkable), "empty_prompts": empty, "over_context": over,
                      "longest_prompt_tokens": longest, "holdout_in_train": in_train}

    name = reward_name(accuracy_reward)
    fit = (f"longest prompt {longest} + {max_completion_length} completion tokens"
           + (f" vs {context_limit} positions" if context_limit else ""))
    section.summary = (f"{len(train_rows)} train / {len(holdout_rows)} held-out; {skipped} dropped at load, "
                       f"{unparsable} unparsable gold, {empty} empty prompts, {over} over context ({fit}), "
                       f"{in_train} held-out in train")
    if checkable and unparsable == len(checkable):
        section.failures.append(f"{name} cannot check any gold answer (None for all {unparsable} rows): accuracy can "
                                "never fire; check the dataset's answer column")
    elif unparsable:
        section.warnings.append(f"{unparsable} rows have a gold answer {name} cannot check (scored None: only the "
                                "format reward trains on them); clean them or set on_bad_row: fail")
    if scored_wrong:
        section.warnings.append(f"{scored_wrong} rows' own gold answer is scored wrong by {name}: the gold and the "
                                "reward disagree on the answer's form")
    if empty:
        section.warnings.append(f"{empty} prompts have an empty question")
    if over:
        section.warnings.append(
            f"{over} prompts do not fit the model's {context_limit} positions with max_completion_length "
            f"{max_completion_length} (TRL does not truncate prompts): lower max_completion_length to "
            f"{max(context_limit - longest, 0)} or drop prompts over {context_limit - max_completion_length} tokens")
    if in_train:
        section.warnings.append(f"{in_train} held-out prompts are also training prompts: the before/after numbers "
                                "would overstate generalisation")
    return section


def _prompt_text(prompt) -> str:
    if isinstance(prompt, str):
        return prompt
    return " ".join(str(m.get("content", "")) for m in prompt if m.get("role") == "user")


# --------------------------------------------------------------------------- model sample


def group_signal(scores: dict[str, list], weights, num_generations: int) -> float:
    """Share of groups whose weighted total rewards are all equal (zero advantage: no learning signal).

    None counts as NaN and is skipped in the sum, as in TRL.

    >>> group_signal({"r": [1.0, 1.0, 0.0, 1.0]}, None, 2)
    0.5
    """
    names = list(scores)
    weights = list(weights) if weights is not None else [1.0] * len(names)
    n = len(scores[names[0]])
    totals = [sum(w * s[i] for w, s in zip(weights, (scores[k] for k in names)) if s[i] is not None)
              for i in range(n)]
    groups = [totals[i:i + num_generations] for i in range(0, n, num_generations)]
    flat = sum(max(g) - min(g) < 1e-6 for g in groups)
    return flat / len(groups)


def check_samples(model, tokenizer, rows, reward_funcs, task: str, num_generations: int, max_completion_length: int,
                  temperature: float = 1.0, seed: int = 0, reward_weights=None, reward_settings: dict | None = None,
                  top_k: int = 0, top_p: float = 1.0, chat_template_kwargs: dict | None = None,
                  reflection_phrases=None) -> Section:
    """Sample groups from the starting model and say whether GRPO would get a signal from them.

    ``counts["verdict"]``: the reflection audit of these samples (``scripts.lib.measure.reflection.verdict_line``):
    is there reflection, and does it pay, before any RL?"""
    section = Section("samples")
    group_rows = [row for row in rows for _ in range(num_generations)]
    texts, lengths = sample_completions(model, tokenizer, [r["prompt"] for r in group_rows], max_completion_length,
                                        temperature=temperature, seed=seed, top_k=top_k or 0, top_p=top_p,
                                        chat_template_kwargs=chat_template_kwargs)
    completions = [_as_completion(t, r["prompt"]) for t, r in zip(texts, group_rows)]
    scores = call_rewards(reward_funcs, group_rows, completions, tokenizer)
    summary = score_completions(group_rows, texts, task, lengths, reflection_phrases, reward_settings)
    truncated = sum(n >= max_completion_length for n in lengths) / len(lengths)
    flat = group_signal(scores, reward_weights, num_generations)
    fmt, acc = summary["format"], summary["accuracy"]
    section.counts = {"format": fmt, "accuracy": acc, "truncated": truncated, "flat_groups": flat,
                      "completions": len(texts), "verdict": summary["verdict"], "texts": texts}
    means = ", ".join(f"{k}={mean(v):.2f}" for k, v in scores.items())
    section.summary = (f"{len(rows)} prompts x {num_generations}: format {fmt:.2f}, accuracy {acc:.2f}, truncated "
                       f"{truncated:.2f}, groups with all-equal rewards {flat:.2f}; reward means {means}")
    names = [reward_name(f) for f in reward_funcs]
    if flat >= 1.0:
        section.warnings.append(
            "every group has all-equal rewards: no learning signal (advantage 0, loss 0); use a shaped reward "
            "(format_shaped_reward), more generations, easier data or a stronger base")
    elif flat > ZERO_STD_WARN:
        section.warnings.append(
            f"{flat:.0%} of groups have all-equal rewards (no learning signal from them): raise num_generations "
            f"(now {num_generations}), use easier data, or add format_shaped_reward")
    if truncated > TRUNCATION_WARN:
        section.warnings.append(
            f"{truncated:.0%} of completions hit max_completion_length {max_completion_length} and lose their "
            "answer: raise max_completion_length (or set mask_truncated_completions: true)")
    if fmt == 0 and "format_reward" in names and "format_shaped_reward" not in names:
        section.warnings.append("no sample is in the strict format: add format_shaped_reward for a gradient, "
                                "or use a template that shows the format")
    if acc == 0:
        section.warnings.append("no sample is correct: GRPO has nothing to amplify; use easier data (fewer numbers, "
                                "smaller targets), more generations, or a stronger base model")
    return section



def check_resources(model_config, training_args, model_args, longest_prompt_tokens: int) -> Section:
    """Parameters and a rough memory estimate for model + LoRA + optimizer + generation vs the device."""
    from trl import get_peft_config  # trl is heavy to import; only this check needs it

    section = Section("resources")
    peft_config = get_peft_config(model_args)
    n_params, trainable = parameter_counts(model_config, peft_config)
    dtype = model_args.dtype if model_args.dtype not in (None, "auto") else getattr(model_config, "dtype", None)
    weight_bytes = dtype_bytes(dtype or "bfloat16")
    seq_len = longest_prompt_tokens + training_args.max_completion_length
    gpu = None if training_args.use_cpu else gpu_total()
    parts = estimate_memory(model_config, n_params, trainable, training_args, seq_len, weight_bytes,
                            peft_config is not None, gpu[0] if gpu else 0)
    total = sum(parts.values())
    lora = f", LoRA r={model_args.lora_r}: {count_text(trainable)} trainable ({trainable / n_params:.1%})" \
        if peft_config is not None else ""
    biggest = sorted(parts.items(), key=lambda kv: -kv[1])[:3]
    detail = ", ".join(f"{k} {gib(v)}" for k, v in biggest)
    section.counts = {"parameters": n_params, "trainable": trainable, "estimate_bytes": total}
    if gpu:
        where = f"vs {gib(gpu[0])} on {gpu[1]}"
    else:
        ram = ram_total()
        where = "vs no GPU" + (f" ({gib(ram)} RAM)" if ram else "")
    section.summary = (f"{count_text(n_params)} parameters ({str(dtype).replace('torch.', '')}){lora}; "
                       f"rough peak per device {gib(total)} ({detail}) {where}")
    sharded = training_args.deepspeed or training_args.fsdp
    if gpu and total > gpu[0] and not sharded:
        advice = ["use_peft: true"] if peft_config is None else []
        if not training_args.activation_checkpointing:
            advice.append("activation_checkpointing: true")
        advice += [f"a smaller per_device_train_batch_size (now {training_args.per_device_train_batch_size})",
                   "optim: adamw_8bit"]
        section.warnings.append(f"the rough estimate {gib(total)} is over the GPU's {gib(gpu[0])}: likely OOM; "
                                f"try {', '.join(advice)}")
    if not gpu and not training_args.use_cpu:
        section.warnings.append("no GPU on this machine and use_cpu is not set")
    return section


# --------------------------------------------------------------------------- real tokenizer and chat template


def _quote(text: str, limit: int = 90) -> str:
    text = text.replace("\n", " ")
    return f'"{text[:limit]}{"…" if len(text) > limit else ""}"'


def check_chat(prompt, tokenizer, reward_funcs, chat_template_kwargs: dict | None = None,
               sample_texts: list[str] | None = None) -> Section:
    """The traps a real tokenizer and chat template set (``scripts/lib/preflight/chat_audit.py``): text the
    template adds that the recipe did not write, tags that are several tokens or special tokens,
    pad = eos, a turn end that is not eos, and (with samples) a ``<think>`` the model never opens."""
    section = Section("chat")
    notes = []
    if not isinstance(prompt, str):
        added = template_additions(tokenizer, prompt, chat_template_kwargs)
        if added:
            section.warnings.append(
                f"the chat template adds text the recipe did not write: {_quote(added)}; fix: set system_prompt "
                "in the recipe (a template's default system prompt is replaced by it) or give a chat_template "
                "without the addition")
        bare = [m for m in prompt if m.get("role") != "system"]
        added_bare = template_additions(tokenizer, bare, chat_template_kwargs) if len(bare) < len(prompt) else ""
        if added_bare and not added:
            notes.append(f"without a system message the template adds {_quote(added_bare, 60)}: "
                         "the recipe's system prompt replaces it")
        elif not added:
            notes.append("template adds no text")
        end = turn_end_token(tokenizer, chat_template_kwargs)
        if end and end != tokenizer.eos_token:
            section.warnings.append(
                f"the chat template ends an assistant turn with {end!r} but eos is {tokenizer.eos_token!r}: "
                "completions will not stop at the end of the answer; set the tokenizer's eos_token (and the "
                "generation config's eos_token_id) to the turn end")
    counts = tag_token_counts(tokenizer)
    split = {tag: n for tag, n in counts.items() if n > 1}
    if split:
        notes.append(f"`<think>` = {counts['<think>']} tokens (rewards read text, not token ids)")
    dropped = special_tags(tokenizer)
    if dropped:
        section.failures.append(
            f"{', '.join(dropped)} are special tokens: TRL decodes completions with skip_special_tokens=True, so "
            "the format reward never sees them; use a tokenizer where the tags are ordinary (non-special) tokens")
    if tokenizer.eos_token is None:
        section.failures.append("the tokenizer has no eos token: generation never stops before max_completion_length")
    elif tokenizer.pad_token_id == tokenizer.eos_token_id:
        notes.append(f"pad = eos = {tokenizer.eos_token} (masks come from the tokenizer; completions end at the "
                     "first eos)")
    if sample_texts:
        shares = tag_shares(sample_texts)
        notes.append(f"samples: <think> in {shares['<think>']:.0%}, <answer> in {shares['<answer>']:.0%}, "
                     f"any tag in {shares['any']:.0%} of {len(sample_texts)}")
        names = [reward_name(f) for f in reward_funcs]
        if shares["<think>"] == 0 and any(n.startswith("format") for n in names):
            flat = [n for n in names if n.startswith("format")] if shares["any"] == 0 else ["format_reward"]
            flat = [n for n in flat if n in names]
            section.warnings.append(
                f"the model never opens <think> (0 of {len(sample_texts)} samples): {', '.join(flat)} is 0 for "
                "every completion, so GRPO has nothing to amplify there; "
                + ("" if "format_shaped_reward" in names else "add format_shaped_reward, ")
                + "show the format in the prompt (a worked example), or start from a model that writes the tags")
    section.summary = "; ".join(notes) or "no chat template (plain prompt)"
    return section


# --------------------------------------------------------------------------- running the checks


def context_limit(model_config, training_args) -> int | None:
    limits = [getattr(model_config, "max_position_embeddings", None)]
    if training_args.use_vllm:
        limits.append(training_args.vllm_max_model_length)
    limits = [n for n in limits if n]
    return min(limits) if limits else None


def run_checks(script_args, training_args, model_args, tokenizer, model_config, train_rows, holdout_rows,
               skipped: int, reward_funcs, model=None, samples: int = 0) -> Report:
    """Every check for a recipe, its data and rewards; the model sample only when ``samples`` > 0."""
    kwargs = chat_template_kwargs(training_args)
    accuracy_name = ACCURACY_REWARD_FOR_TASK[script_args.task]
    accuracy = next((f for f in reward_funcs if reward_name(f) == accuracy_name), None) \
        or get_reward(accuracy_name, **script_args.reward_settings()[accuracy_name])
    sections = [check_template(train_rows, reward_funcs, tokenizer, script_args.task, kwargs)]
    data = check_dataset(
        train_rows, holdout_rows, skipped, script_args.task, accuracy, tokenizer, training_args.max_completion_length,
        context_limit(model_config, training_args),
        empty_prompt=build_r1_zero_prompt("", script_args.prompt_template, script_args.system_prompt),
        chat_template_kwargs=kwargs,
    )
    sections.append(data)
    if samples:
        if model is None:
            raise ValueError("samples > 0 needs the model")
        sections.append(check_samples(
            model, tokenizer, train_rows[:samples], reward_funcs, script_args.task, training_args.num_generations,
            training_args.max_completion_length, temperature=training_args.temperature, seed=training_args.seed,
            reward_weights=training_args.reward_weights, reward_settings=script_args.reward_settings(),
            top_k=training_args.top_k, top_p=training_args.top_p, chat_template_kwargs=kwargs,
            reflection_phrases=script_args.reflection_phrases,
        ))
    else:
        sections.append(Section("samples", "skipped (--samples N samples the starting model)"))
    sections.append(check_chat(train_rows[0]["prompt"], tokenizer, reward_funcs, kwargs,
                               sections[-1].counts.get("texts")))
    sections.append(check_resources(model_config, training_args, model_args, data.counts["longest_prompt_tokens"]))
    sections.append(check_setup(training_args, model_args))
    return Report(sections)


def check_setup(training_args, model_args, processes: int | None = None) -> Section:
    """Known traps of the GRPO/vLLM/PEFT settings (``scripts/lib/preflight/traps.py``)."""
    summary, failures, warnings = find_traps(training_args, model_args, processes)
    return Section("setup", summary, warnings=warnings, failures=failures)


def preflight_or_stop(script_args, training_args, model_args, model, tokenizer, train_rows, holdout_rows,
                      skipped: int, reward_funcs) -> Report:
    """The fast checks at the start of ``make train``: print the report, raise PreflightFailed on a failure."""
    report = run_checks(script_args, training_args, model_args, tokenizer, model.config, train_rows, holdout_rows,
                        skipped, reward_funcs)
    say(report.render())  # rank 0 only (scripts/lib/process/distributed.py)
    if report.failures:
        raise PreflightFailed(
            f"preflight: {report.failures[0]} (report above; `preflight: false` in the recipe skips it)")
    return report
