r"""`make bench-rewards`: are the rewards right, fast, and bounded on hostile input?

    python -m scripts.bench_rewards                                    # ../shared/data/gsm8k/test.jsonl
    python -m scripts.bench_rewards path/to/gsm8k/test.jsonl --limit 200

1. Every GSM8K gold answer in the file is rendered as completions in several answer formats (plain,
   with thousands separators, ``$``, ``$1,234.00``, ``\boxed{}``, wrong numbers, and a sentence only
   math-verify reads), each with the row's worked solution as the ``<think>`` block. For each
   format it times, in the same run, ``gsm8k_accuracy_reward``, ``trl.rewards.accuracy_reward``
   and plain math-verify (``verify(parse(gold), parse(answer))`` on the ``<answer>`` text), and
   measures the agreement with math-verify. "math-verify decides" means it parses both the gold
   and the answer text (non-empty ``parse``); agreement is the share of those items where our reward
   is 1.0 exactly when ``verify`` is True.
2. Every reward is called on hostile completions (10^6-character strings, unicode, code,
   ``9**9**9**9``, 10,000-deep nesting, ``1/0``, …) one at a time, and the slowest call is reported.

Targets (issue 4): >= 50x the items/s of ``trl.rewards.accuracy_reward`` on the number formats,
100 % agreement where math-verify decides, worst hostile call < 50 ms. A missed target is printed
as MISSED (exit code 1). Times are this process's CPU time unless ``--clock wall``: on a machine
shared with other jobs, wall time mostly measures them.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from scripts.lib.cli import ArgumentParser, UserError, print_targets, run_cli

DEFAULT_GSM8K = "../shared/data/gsm8k/test.jsonl"
TARGET_SPEEDUP = 50.0
TARGET_WORST_MS = 50.0

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


# CPU time of this process by default: on a shared machine, wall time mostly measures the other
# processes (a 0.1 s batch of ours can wait 0.5 s for a core; TRL's 30 s run averages that out).
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
CLOCK = [CLOCKS["cpu"]]


class BenchError(UserError):
    """A problem with the bench's input, explained in one line."""


def load_golds(path: str, limit: int | None) -> list[tuple[int, str]]:
    """(gold as an int, worked solution) for each row with a numeric gold answer."""
    from data.gsm8k import extract_gsm8k_gold
    from data.loading import DataError, read_jsonl

    if not Path(path).is_file():
        raise BenchError(f"GSM8K file not found: {path} (pass the path to test.jsonl, e.g. "
                         f"python -m scripts.bench_rewards /path/to/gsm8k/test.jsonl)")
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


def _items_per_s(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def bench_format(golds, render, right: bool) -> dict:
    from math_verify import parse, verify
    from trl.rewards import accuracy_reward

    from rewards._text import extract_answer
    from rewards.accuracy_rewards import gsm8k_accuracy_reward

    texts = [completion(reasoning, render(g)) for g, reasoning in golds]
    solutions = [str(g) for g, _ in golds]

    started = CLOCK[0]()
    ours = gsm8k_accuracy_reward(texts, solution=solutions)
    ours_s = CLOCK[0]() - started

    started = CLOCK[0]()
    trl = accuracy_reward([[{"role": "assistant", "content": t}] for t in texts], solutions)
    trl_s = CLOCK[0]() - started

    verdicts = []
    started = CLOCK[0]()
    for text, gold in zip(texts, solutions):
        gold_parsed, answer_parsed = parse(gold), parse(extract_answer(text))
        verdicts.append(bool(verify(gold_parsed, answer_parsed)) if gold_parsed and answer_parsed else None)
    mv_s = CLOCK[0]() - started

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
    }


def hostile_calls() -> list[tuple[str, object, dict]]:
    """(reward name, reward, the dataset columns it reads) for every registered reward."""
    from rewards import REWARDS, get_rewards
    from scripts.lib.config import R1ZeroArguments

    calls = []
    for name in sorted(REWARDS):
        task = "gsm8k" if name.startswith(("gsm8k", "cosine")) else "countdown"
        reward = get_rewards([name], R1ZeroArguments(task=task).reward_settings())[0]
        columns = {"solution": ["18"]} if task == "gsm8k" else {"nums": [[3, 2, 3]], "target": [18]}
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
            times = []
            for _ in range(1 + repeats):
                started = CLOCK[0]()
                reward([text], completion_ids=ids, prompts=["p"], **columns)
                times.append((CLOCK[0]() - started) * 1000)
            first = max(first, (times[0], label))
            steady = max(steady, (min(times[1:]), label))
        results.append((name, first, steady))
    return results


def _ratio(a: float, b: float) -> str:
    return f"{a / b:,.0f}x" if b else "-"


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gsm8k", nargs="?", default=DEFAULT_GSM8K, help=f"GSM8K jsonl (default {DEFAULT_GSM8K})")
    parser.add_argument("--limit", type=int, default=None, help="Use only the first N answers (quick look).")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="cpu: this process's CPU time (default, robust to a busy machine); wall: elapsed time.")
    parser.add_argument("--max-ids", type=int, default=8192,
                        help="Token ids per hostile completion for the length rewards (a recipe's max_completion_length).")
    args = parser.parse_args(argv)
    # math-verify logs every timeout and unparsable string at WARNING; the bench reports its own numbers.
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)

    CLOCK[0] = CLOCKS[args.clock]
    golds = load_golds(args.gsm8k, args.limit)
    print(f"GSM8K: {len(golds)} gold answers from {args.gsm8k}, {len(FORMATS) + len(SLOW_FORMATS)} formats, "
          f"timed in {args.clock} time")
    from math_verify import parse, verify

    # One-time imports and caches, for all three, not timed.
    from trl.rewards import accuracy_reward

    from rewards.accuracy_rewards import gsm8k_accuracy_reward

    warm = completion("x", "\\boxed{\\frac{36}{2}}")
    verify(parse("18"), parse("$\\boxed{\\frac{36}{2}}$"))
    accuracy_reward([[{"role": "assistant", "content": warm}]], ["18"])
    gsm8k_accuracy_reward([warm, completion("x", "1,018"), completion("x", "18 apples")], solution=["18"] * 3)

    header = (f"{'format':<13} {'items':>6} {'ours/s':>10} {'TRL/s':>8} {'mv/s':>8} {'vs TRL':>7} {'vs mv':>6} "
              f"{'mv decides':>10} {'agree':>7} {'ours right':>10} {'TRL right':>9}")
    print("\n" + header + "\n" + "-" * len(header))
    totals = {"n": 0, "ours_s": 0.0, "trl_s": 0.0, "mv_s": 0.0, "decided": 0, "agree": 0}
    all_disagreements = []
    for name, (render, right) in {**FORMATS, **SLOW_FORMATS}.items():
        r = bench_format(golds, render, right)
        all_disagreements += r["disagreements"]
        ours, trl, mv = (_items_per_s(r["n"], r[k]) for k in ("ours_s", "trl_s", "mv_s"))
        print(f"{name:<13} {r['n']:>6} {ours:>10,.0f} {trl:>8,.0f} {mv:>8,.0f} {_ratio(ours, trl):>7} "
              f"{_ratio(ours, mv):>6} {r['decided']:>10} {r['agree'] / max(r['decided'], 1):>7.2%} "
              f"{r['ours_right'] / r['n']:>10.1%} {r['trl_right'] / r['n']:>9.1%}")
        if name in FORMATS:
            for key in totals:
                totals[key] += r[key]
    ours, trl, mv = (_items_per_s(totals["n"], totals[k]) for k in ("ours_s", "trl_s", "mv_s"))
    speedup = ours / trl
    agreement = totals["agree"] / max(totals["decided"], 1)
    print(f"{'number forms':<13} {totals['n']:>6} {ours:>10,.0f} {trl:>8,.0f} {mv:>8,.0f} {_ratio(ours, trl):>7} "
          f"{_ratio(ours, mv):>6} {totals['decided']:>10} {agreement:>7.2%}")
    print("\n'ours right' / 'TRL right': share scored as intended (1 for the right number, 0 for a wrong one);"
          "\nTRL's accuracy_reward reads only a \\boxed{} (or LaTeX) answer anywhere in the completion.")
    for text, ours_value, verdict in all_disagreements[:5]:
        print(f"disagreement: ours={ours_value} math-verify={verdict}: {text[-80:]!r}")

    print(f"\nhostile input ({len(hostile_completions())} completions): slowest call per reward, first call / "
          f"steady (fastest of 3 repeats), length rewards get <= {args.max_ids} token ids")
    worst_overall = first_overall = 0.0
    for name, (first, first_label), (worst, label) in bench_hostile(args.max_ids):
        worst_overall, first_overall = max(worst_overall, worst), max(first_overall, first)
        print(f"  {name:<31} {first:8.2f} ms ({first_label})  /  {worst:6.2f} ms ({label})")

    print("\ntargets")
    met = print_targets((
        (f"speed >= {TARGET_SPEEDUP:.0f}x trl.rewards.accuracy_reward (number forms)", speedup >= TARGET_SPEEDUP,
         f"{speedup:,.0f}x"),
        ("100% agreement where math-verify decides (all formats)", not all_disagreements,
         f"{len(all_disagreements)} disagreements"),
        (f"worst hostile call < {TARGET_WORST_MS:.0f} ms (steady)", worst_overall < TARGET_WORST_MS,
         f"{worst_overall:.1f} ms (first calls, with one-time sympy costs: {first_overall:.1f} ms)"),
    ))
    return 0 if met else 1


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
