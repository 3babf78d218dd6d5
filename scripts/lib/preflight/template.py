"""Preflight's "template" check: probe completions after real prompts, rendered exactly as TRL
renders them, scored by every reward; and the reward calls with TRL's keyword arguments that the
data, samples and chat checks share.

The probes are a correct completion in the expected format, a wrong answer, one with the opening
``<think>`` toggled, a repetitive one, no tags and empty. Every format and accuracy reward must give
the correct one its highest score and must not score all probes alike (open-r1 #235/#256: a template
that pre-fills ``<think>`` where the format reward cannot see it).
"""

from __future__ import annotations

import itertools
from fractions import Fraction

from data.prompts import render_prompt
from rewards import ACCURACY_REWARD_FOR_TASK
from rewards.accuracy_rewards import parse_number
from rewards.math_rewards import fast_math_verdict
from rewards.text import asks_for_boxed
from scripts.lib.preflight.report import PreflightFailed, Section


# Training rows used as probe prompts for the template check.
PROBE_ROWS = 3
REASONING = "I work it out step by step and check it."


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


def probe_texts(state: str, right: str, wrong: str, boxed: bool = False) -> dict[str, str]:
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
GOLD_ANSWERS = {"gsm8k": _gsm8k_answers, "arithmetic": _gsm8k_answers, "countdown": _countdown_answers,
                "math": _math_answers}


def reward_name(fn) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def as_completion(text: str, prompt):
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


def is_format_reward(fn) -> bool:
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


def cut_at(tokenizer, text: str, budget: int) -> str:
    """``text`` with its reasoning repeated past ``budget`` tokens, cut at ``budget``: a completion that ran to
    ``max_completion_length`` (a length-shaped reward such as DAPO's overlong penalty fires only there)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    step = max(len(tokenizer(" " + REASONING, add_special_tokens=False)["input_ids"]), 1)
    long = text.replace(REASONING, " ".join([REASONING] * (budget // step + 2)), 1) if len(ids) < budget else text
    return tokenizer.decode(tokenizer(long, add_special_tokens=False)["input_ids"][:budget])


def check_template(rows, reward_funcs, tokenizer, task: str, chat_template_kwargs: dict | None = None,
                   max_completion_length: int | None = None) -> Section:
    """Probe completions after real prompts: does each reward fire for a correct completion only?

    With ``max_completion_length`` one more probe runs to that budget and is cut there, as a completion that
    never ends is: a reward that only fires on length (DAPO's overlong penalty) is judged where it can fire."""
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
        texts = probe_texts(prompt_state, right, wrong, asks_for_boxed(row["prompt"]))
        if max_completion_length:
            texts["cut at max_completion_length"] = cut_at(tokenizer, texts["correct"], max_completion_length)
        for label, text in texts.items():
            batch_rows.append(row)
            batch_completions.append(as_completion(text, row["prompt"]))
            labels.append(label)
    scores = call_rewards(reward_funcs, batch_rows, batch_completions, tokenizer)
    per_row = len(labels) // len(probes)

    correct_scores, wrong_scores = {}, {}
    for fn in reward_funcs:
        name = reward_name(fn)
        core = is_format_reward(fn) or name == accuracy_name
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
                      if v is not None and (k != "opening <think> toggled" or is_format_reward(fn))}
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
            text = problem + (f"; {hint}" if hint and is_format_reward(fn) else "")
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
