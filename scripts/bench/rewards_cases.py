r"""`make bench-rewards`'s items and timings (scripts/bench/rewards.py): GSM8K gold answers rendered as
completions in several answer formats, each timed for ``gsm8k_accuracy_reward``,
``trl.rewards.accuracy_reward`` and plain math-verify; and every registered reward timed on hostile
completions, one call at a time."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from scripts.bench.common import clock, first_and_steady_ms
from scripts.lib.recipe.cli import UserError

# name -> (template for the answer text given the gold int, whether the answer is right)
FORMATS = {
    "plain": (lambda g: f"{g}", True),
    "commas": (lambda g: f"{g:,}", True),
    "dollar": (lambda g: f"${g:,}", True),
    "dollar_cents": (lambda g: f"${g:,}.00", True),
    "boxed": (lambda g: f"\\boxed{{{g}}}", True),
    "wrong_plain": (lambda g: f"{g + 1}", False),
    "wrong_boxed": (lambda g: f"\\boxed{{{g * 10 + 3:,}}}", False),
}
# Answers only math-verify can read: timed and checked too, but not part of the speed target.
SLOW_FORMATS = {
    "sentence": (lambda g: f"The answer is {g} dollars.", True),
}

class BenchError(UserError):
    """A problem with the bench's input, explained in one line."""


def load_golds(path: str, limit: int | None) -> list[tuple[int, str]]:
    """(gold as an int, worked solution) for each row with a numeric gold answer."""
    from data.gsm8k import extract_gsm8k_gold
    from data.loading import DataError, read_jsonl

    if not Path(path).is_file():
        raise BenchError(f"GSM8K file not found: {path} (pass the path to test.jsonl, e.g. "
                         f"python -m scripts.bench.rewards /path/to/gsm8k/test.jsonl)")
    try:
        rows = read_jsonl(path)
    except DataError as err:
        raise BenchError(str(err)) from None
    golds = []
    for row in rows:
        gold = extract_gsm8k_gold(row.get("answer"))
        try:
            value = int(gold)
        except (TypeError, ValueError):
            continue  # no '####' line, or not an integer: not a GSM8K answer this bench can render
        golds.append((value, str(row["answer"]).split("####")[0].strip()))
        if limit and len(golds) >= limit:
            break
    if not golds:
        raise BenchError(f"{path}: no row has a '#### <integer>' answer line; is it GSM8K?")
    return golds


def completion(reasoning: str, answer: str) -> str:
    return f"<think> {reasoning} </think> <answer> {answer} </answer>"


def bench_format(golds, render, right: bool) -> dict:
    from math_verify import parse, verify
    from trl.rewards import accuracy_reward

    from rewards.text import extract_answer
    from rewards.accuracy_rewards import gsm8k_accuracy_reward

    texts = [completion(reasoning, render(g)) for g, reasoning in golds]
    solutions = [str(g) for g, _ in golds]

    started = clock()
    ours = gsm8k_accuracy_reward(texts, solution=solutions)
    ours_s = clock() - started

    started = clock()
    trl = accuracy_reward([[{"role": "assistant", "content": t}] for t in texts], solutions)
    trl_s = clock() - started

    verdicts = []
    started = clock()
    for text, gold in zip(texts, solutions):
        gold_parsed, answer_parsed = parse(gold), parse(extract_answer(text))
        verdicts.append(bool(verify(gold_parsed, answer_parsed)) if gold_parsed and answer_parsed else None)
    mv_s = clock() - started

    decided = [(o, v, t) for o, v, t in zip(ours, verdicts, texts) if v is not None]
    disagreements = [(t, o, v) for o, v, t in decided if (o == 1.0) != v]
    expected = 1.0 if right else 0.0
    return {
        "n": len(texts), "ours_s": ours_s, "trl_s": trl_s, "mv_s": mv_s,
        "decided": len(decided), "agree": len(decided) - len(disagreements), "disagreements": disagreements,
        "ours_right": sum(o == expected for o in ours), "trl_right": sum(t == expected for t in trl),
    }


def hostile_completions() -> dict[str, str]:
    """Name -> completion text. Each is something a policy (or an attacker) could emit."""
    deep = "(" * 10_000 + "1" + ")" * 10_000
    return {
        "10^6 chars, no tags": "a" * 1_000_000,
        "10^6-digit answer": f"<answer>{'9' * 1_000_000}</answer>",
        "10^6 chars inside think": f"<think>{'wait ' * 200_000}</think> <answer>18</answer>",
        "125k unclosed <answer> tags": "<answer>" * 125_000 + "</answer>",
        "140k unclosed <think> tags": "<think>" * 140_000,
        "unicode junk": "<answer>" + "\u202e\u0000\ud800🙂١٨𝟏𝟖\u200b" * 1000 + "</answer>",
        "arabic-indic digits": "<answer>١٨</answer>",
        "__import__('os')": "<answer>__import__('os').system('echo pwned')</answer>",
        "exec in math mode": "<answer>$__import__('os').system('echo pwned')$</answer>",
        "9**9**9**9": "<answer>9**9**9**9</answer>",
        "9^9^9^9 (latex)": "<answer>$9^{9^{9^{9}}}$</answer>",
        "10**(10**6)": "<answer>10**(10**6)</answer>",
        "1000000! (latex)": "<answer>$1000000!$</answer>",
        "binomial (latex)": "<answer>$\\binom{100000}{50000}$</answer>",
        "10,000-deep nesting": f"<answer>{deep}</answer>",
        "99-deep nesting": "<answer>" + "(" * 99 + "1" + ")" * 99 + "</answer>",
        "5-deep latex parens": "<answer>$" + "(" * 5 + "18" + ")" * 5 + "$</answer>",
        "1/0": "<answer>1/0</answer>",
        "\\frac{1}{0}": "<answer>\\frac{1}{0}</answer>",
        "3/(2-2)": "<answer>3/(2-2)</answer>",
        "huge literal": "<answer>" + "9" * 199 + "</answer>",
        "1e999999": "<answer>1e999999</answer>",
        # Chains of factorials: each `!` multiplies the digits (9! = 362880, then 362880!, ...); sympy
        # computes them exactly, which math-verify's 1 s alarm cannot interrupt outside the main thread.
        "9!!!!!!!! (factorial chain)": "<answer>9!!!!!!!!</answer>",
        "((9!)!)! (nested factorials)": "<answer>((9!)!)!</answer>",
        "$9!!!!$ (latex factorial chain)": "<answer>$9!!!!$</answer>",
        "\\boxed{9!!!} (boxed chain)": "<answer>\\boxed{9!!!}</answer>",
        "9!^{9!} (factorial exponent)": "<answer>$9!^{9!}$</answer>",
        "9^9! (factorial of a power)": "<answer>9^9!</answer>",
        # Bytes that are not UTF-8, as a decoder with errors="surrogateescape" hands them over, and
        # lone surrogates (neither can be encoded back to UTF-8 without an error handler).
        "invalid UTF-8 (surrogateescape)": b"<think>\xff\xfe\xc3(</think> <answer>\xed\xa0\x80 18\x80</answer>".decode(
            "utf-8", "surrogateescape"),
        "lone surrogates": "<think>\ud800</think> <answer>\udfff18\ud83d</answer>",
        "unbalanced tags": "<think><answer></think> 18 </answer></answer><think> <answer>",
        "100k interleaved tags": "<think><answer></think>" * 33_000 + "</answer>",
    }


def hostile_calls() -> list[tuple[str, object, dict]]:
    """(reward name, reward, the dataset columns it reads) for every registered reward."""
    from rewards import REWARDS, get_rewards
    from scripts.lib.recipe.arguments import R1ZeroArguments

    calls = []
    for name in sorted(REWARDS):
        task = "gsm8k" if name.startswith(("gsm8k", "cosine")) else "math" if name.startswith("math") else "countdown"
        reward = get_rewards([name], R1ZeroArguments(task=task).reward_settings())[0]
        columns = {"nums": [[3, 2, 3]], "target": [18]} if task == "countdown" else {"solution": ["18"]}
        calls.append((name, reward, columns))
    return calls


def bench_hostile(max_ids: int, repeats: int = 3) -> list[tuple[str, tuple[float, str], tuple[float, str]]]:
    """(reward, (slowest first call ms, input), (slowest steady call ms, input)) over the hostile inputs.

    A first call includes one-time costs inside sympy (the first division by zero it meets costs
    ~0.1 s, once per process). The steady time of an input is the fastest of ``repeats`` later calls,
    so a busy machine's scheduling pauses do not count as the input's cost.
    """
    results = []
    inputs = hostile_completions()
    for name, reward, columns in hostile_calls():
        first, steady = (0.0, ""), (0.0, "")
        for label, text in inputs.items():
            # Token ids are bounded by max_completion_length in training, not by the text's size.
            ids = [[ord(c) % 50 for c in text[:max_ids]]]
            first_ms, steady_ms = first_and_steady_ms(
                partial(reward, [text], completion_ids=ids, prompts=["p"], **columns), repeats)
            first = max(first, (first_ms, label))
            steady = max(steady, (steady_ms, label))
        results.append((name, first, steady))
    return results
