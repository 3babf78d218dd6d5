"""The `math` task: MATH rows -> prompts, the level filter, the recipe, preflight, and `make eval` on benchmarks."""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURES, ROOT
from data import build_dataset
from data.benchmarks import BENCHMARKS, PROTOCOLS, load_benchmark, protocol_settings
from data.math import extract_math_gold, load_math, math_to_r1_zero
from rewards.math_rewards import math_accuracy_reward
from scripts import evaluate
from scripts.lib.evaluation import eval_settings

MATH = FIXTURES / "math_small.jsonl"
RECIPE = ROOT / "recipes" / "qwen2.5-math-1.5b_math_zero.yaml"
CPU = ["--bf16", "false", "--use_vllm", "false", "--use_cpu", "true", "--activation_checkpointing", "false"]


def fixture_rows() -> list[dict]:
    return [json.loads(line) for line in MATH.read_text().splitlines()]


@pytest.mark.parametrize("solution,gold,why", [
    ("$x = \\boxed{5}$.", "5", "plain box"),
    ("$\\boxed{\\frac{1}{2}}$", "\\frac{1}{2}", "nested braces are balanced"),
    ("first \\boxed{1}, finally \\boxed{2}", "2", "the last box is the answer"),
    ("$\\boxed{\\{1, 2\\}}$", "\\{1, 2\\}", "escaped braces are not groups"),
    ("\\fbox{7}", "7", "\\fbox counts as a box"),
    ("no box at all", None, "no final answer"),
    ("\\boxed{1 + {2}", None, "unbalanced: not a gold"),
    (None, None, "not a string"),
])
def test_gold_is_the_last_boxed_content(solution, gold, why):
    assert extract_math_gold(solution) == gold, why


def test_rows_become_r1_zero_prompts_with_the_boxed_gold():
    rows, skipped = load_math(str(MATH))
    assert skipped == 0 and len(rows) == len(fixture_rows())
    first = rows[0]
    assert first["prompt"].endswith("Assistant:") and "What is $\\frac{1}{4} + \\frac{1}{4}$?" in first["prompt"]
    assert first["solution"] == "\\frac{1}{2}" and first["level"] == 3
    # Each row's gold is scored right by the reward, written as the gold itself.
    assert all(math_accuracy_reward([f"<answer>{r['solution']}</answer>"], solution=[r["solution"]]) == [1.0]
               for r in rows)


def test_level_filter_keeps_levels_3_to_5():
    rows, _ = load_math(str(MATH), levels=(3, 4, 5))
    expected = sum(int(r["level"][-1]) >= 3 for r in fixture_rows())
    assert len(rows) == expected and {r["level"] for r in rows} == {3, 4, 5}


def test_bad_rows_are_skipped_and_counted_or_fail():
    rows = [{"problem": "no box", "solution": "just text"}, {"problem": "ok", "solution": "\\boxed{3}"}, "junk"]
    kept, skipped = math_to_r1_zero(rows)
    assert [r["solution"] for r in kept] == ["3"] and skipped == 2
    with pytest.raises(ValueError, match="row 1 has no problem or no final answer"):
        math_to_r1_zero(rows, on_bad_row="fail")


def test_build_dataset_math_task_with_levels_and_a_held_out_tail():
    train, test, skipped = build_dataset("math", str(MATH), template="compact", test_size=2, math_levels=[3, 4, 5])
    assert skipped == 0 and len(test) == 2 and len(train) + 2 == 14
    assert not {r["question"] for r in train} & {r["question"] for r in test}


def test_the_recipe_parses_as_dr_grpo_on_levels_3_to_5(tmp_path):
    from data.prompts import PROMPT_TEMPLATES
    from scripts.lib.recipe.parsing import parse_recipe

    script, training, model = parse_recipe(["--config", str(RECIPE), "--output_dir", str(tmp_path), *CPU])
    assert script.task == "math" and script.math_levels == [3, 4, 5]
    assert training.loss_type == "dr_grpo" and training.scale_rewards == "none" and training.beta == 0.0
    assert training.learning_rate == 1e-6 and training.num_generations == 8 and training.max_completion_length == 3000
    assert training.generation_batch_size == 1024  # 128 prompts x 8, as Dr. GRPO's rollout batch
    assert script.prompt_template == "oat_r1" and PROMPT_TEMPLATES["oat_r1"].endswith("\nAssistant: <think>")
    assert script.reward_names() == ["format_reward", "math_accuracy_reward"]
    assert training.generation_kwargs["stop"] == ["</answer>"] and training.adam_beta2 == 0.95


def test_preflight_on_the_fixture_passes_template_and_data_checks(tiny_chat_model_dir, capsys):
    from scripts.preflight import run

    code = run(["--config", str(RECIPE), "--dataset_name", str(MATH), "--model_name_or_path", str(tiny_chat_model_dir),
                "--max_completion_length", "256", *CPU])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "template   ok" in out and "math_accuracy_reward=1.0" in out and "wrong answer: math_accuracy_reward=0.0" in out
    assert "data       ok" in out and "0 unparsable gold" in out


def test_benchmark_registry_and_published_protocols():
    assert set(BENCHMARKS) == {"math500", "aime24", "amc23", "gsm8k"}
    assert all(p["verified"] and p["source"] for p in PROTOCOLS.values())
    assert protocol_settings("math500")["temperature"] == 1.0 and protocol_settings("math500")["top_p"] == 0.95
    assert protocol_settings("aime24")["num_samples"] == 32  # SimpleRL-Zoo's AIME24 avg@32
    assert protocol_settings("math500", "oat_zero")["num_samples"] == 0  # greedy


@pytest.mark.parametrize("name", ["math500", "aime24", "amc23"])
def test_a_math_benchmark_reads_a_local_copy(name):
    rows, skipped, source = load_benchmark(name, str(MATH), template="compact")
    assert skipped == 0 and len(rows) == len(fixture_rows()) and str(MATH) in source


def stub_generator(write):
    """A generate function answering each prompt with write(gold): a model that knows (or not) the answers."""
    golds = {r["problem"]: (r.get("answer") or extract_math_gold(r["solution"])) for r in fixture_rows()}

    def generate(prompts, samples_per_prompt=1, greedy=False):
        texts = []
        for prompt in prompts:
            gold = next(g for q, g in golds.items() if q in prompt)
            # Sampled: right on even samples only, so avg@k is 0.5 and pass@k is 1.
            texts += [write(gold, i) for i in range(samples_per_prompt)]
        return texts, [len(t.split()) for t in texts]

    return generate


def test_make_eval_on_a_benchmark_reports_avg_at_k_pass_at_k_and_versions(tmp_path, capsys):
    stubs = {"half-right": stub_generator(lambda g, i: f"<think> x </think> <answer> {g if i % 2 == 0 else 'nope'} </answer>")}
    out = tmp_path / "eval.json"
    code = evaluate.main(["--models", "half-right", "--task", "amc23", "--dataset_name", str(MATH), "--num_samples", "4",
                          "--pass_k", "1", "4", "--output_file", str(out)], generators=stubs.__getitem__)
    assert code == 0
    printed = capsys.readouterr().out
    assert "| amc23 problems (n=22) |" in printed and "| avg@4, T=1, top_p 0.95, 4 samples | 0.500 |" in printed
    assert "| pass@4, T=1, top_p 0.95, 4 samples | 1.000 |" in printed
    payload = json.loads(out.read_text())
    sampled = payload["models"][0]["metrics"]["sampled"]
    assert sampled["avg@4"] == 0.5 and sampled["pass@1"] == 0.5 and sampled["pass@4"] == 1.0
    assert payload["benchmark"] == "amc23" and payload["task"] == "math"
    assert payload["settings"]["protocol"] == "simplerl_zoo" and payload["settings"]["top_p"] == 0.95
    assert payload["settings"]["max_new_tokens"] == 16000 and payload["settings"]["seed"] == 42
    assert {"torch", "transformers", "trl", "math-verify", "vllm"} <= set(payload["versions"])
    assert payload["versions"]["math-verify"]


def test_a_greedy_protocol_and_flags_override_it(tmp_path):
    seen = []

    def boxed(prompts, samples_per_prompt=1, greedy=False):
        seen.extend(prompts)
        return stub_generator(lambda g, i: f"so the answer is \\boxed{{{g}}}.")(prompts, samples_per_prompt, greedy)

    out = tmp_path / "eval.json"
    assert evaluate.main(["--models", "right", "--task", "math500", "--dataset_name", str(MATH), "--protocol", "oat_zero",
                          "--max_new_tokens", "64", "--output_file", str(out)], generators={"right": boxed}.__getitem__) == 0
    payload = json.loads(out.read_text())
    metrics = payload["models"][0]["metrics"]
    assert metrics["greedy"]["pass@1"] == 1.0 and "sampled" not in metrics
    assert payload["settings"]["max_new_tokens"] == 64 and payload["settings"]["temperature"] == 0.0
    # oat_zero's published numbers were measured in the Qwen-Math template, answers read from \boxed{}
    assert all(p.startswith("<|im_start|>system\nPlease reason step by step") for p in seen)
    assert "prompt_template qwen_math" in payload["settings"]["source"]
    # --prompt_template scores the R1-template run its own way (<answer> block)
    tagged = {"right": stub_generator(lambda g, i: f"<answer>{g}</answer>")}
    assert evaluate.main(["--models", "right", "--task", "math500", "--dataset_name", str(MATH), "--protocol", "oat_zero",
                          "--prompt_template", "r1_zero", "--output_file", str(out)], generators=tagged.__getitem__) == 0
    assert json.loads(out.read_text())["models"][0]["metrics"]["greedy"]["pass@1"] == 1.0


def test_the_tiny_model_evaluates_on_the_fixture_offline(tiny_model_dir, tmp_path, capsys):
    import torch

    torch.set_num_threads(1)
    out = tmp_path / "eval.json"
    code = evaluate.main(["--models", str(tiny_model_dir), "--task", "math500", "--dataset_name", str(MATH),
                          "--prompt_template", "compact", "--limit", "4", "--max_new_tokens", "8", "--num_samples", "2",
                          "--progress", "false", "--output_file", str(out)])
    assert code == 0
    assert "| avg@2, T=1, top_p 0.95, 2 samples |" in capsys.readouterr().out
    assert json.loads(out.read_text())["n"] == 4


@pytest.mark.parametrize("argv,message", [
    (["--models", "m", "--task", "math500", "--protocol", "mine"], "unknown protocol `mine`"),
    (["--models", "m", "--task", "aime24", "--dataset_name", "/no/such.jsonl"], "dataset file not found: /no/such.jsonl"),
])
def test_bad_benchmark_input_is_one_line(argv, message, capsys):
    assert evaluate.run(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_gsm8k_is_a_benchmark_alone_and_the_recipe_held_out_set_with_a_recipe():
    args = eval_settings.parse_args(["--models", "m", "--task", "gsm8k"])
    assert eval_settings.is_benchmark(args) and args.num_samples == 1  # SimpleRL-Zoo's protocol
    args = eval_settings.parse_args(["--models", "m", "--task", "gsm8k", "--recipe",
                                     str(ROOT / "recipes" / "qwen2.5-0.5b-instruct_gsm8k.yaml")])
    assert not eval_settings.is_benchmark(args) and args.num_samples == 8
