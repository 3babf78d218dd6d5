"""Preflight: the silent dead runs (prefill the reward cannot see, unparsable gold, constant rewards)
are caught on the tiny local model, and a healthy recipe passes clean."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT
from scripts.lib.models.loading import load_tokenizer

RECIPE = str(ROOT / "recipes" / "cpu_countdown_tiny.yaml")
# Pre-fills `<think>` and then writes on: the model continues inside the think block, but the
# prompt no longer *ends* with `<think>`, so format_reward cannot tell it was opened.
PREFILL_THEN_TEXT = "User: {question} . Assistant: <think> Let me solve this step by step."
# A Qwen3 / R1-distill style chat template: the generation prompt opens the think block.
CHAT_TEMPLATE_WITH_THINK = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)


def constant_reward(completions, **kwargs):
    return [1.0] * len(completions)


def recipe_args(model_dir, *extra):
    return ["--config", RECIPE, "--model_name_or_path", str(model_dir), "--tiny_base_recipe", "",
            "--max_train_samples", "32", "--holdout_size", "8", *extra]


def countdown_rows(template="compact", n=8):
    from data import build_dataset

    settings = {"n_numbers": (3, 3), "number_range": (1, 9), "target_range": (10, 99), "ops": "+-*", "chain": True}
    train, _, _ = build_dataset("countdown", template=template, max_train_samples=n, countdown=settings,
                                question_style="terse")
    return train


@pytest.fixture(autouse=True)
def one_torch_thread():
    # The test machine's cores are shared: torch's thread pool spinning against other processes
    # made an 8-completion sample of the tiny model take 10 s instead of 0.6 s.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return load_tokenizer(str(tiny_model_dir))


@pytest.fixture(scope="module")
def default_rewards():
    from rewards import get_rewards

    return get_rewards(["format_reward", "countdown_reward"])


def test_every_task_has_a_way_to_write_right_and_wrong_answers():
    from rewards import ACCURACY_REWARD_FOR_TASK
    from scripts.lib.preflight.template import GOLD_ANSWERS

    assert set(GOLD_ANSWERS) == set(ACCURACY_REWARD_FOR_TASK)


def test_healthy_recipe_passes_with_no_warnings(tiny_model_dir, capsys):
    from scripts.preflight import run

    assert run(recipe_args(tiny_model_dir)) == 0
    out = capsys.readouterr().out
    assert "preflight passed (0 warning(s))" in out
    assert "correct completion: format_reward=1.0, countdown_reward=1.0; wrong answer: countdown_reward=0.0" in out
    assert "32 train / 8 held-out; 0 dropped at load, 0 unparsable gold, 0 empty prompts, 0 over context" in out
    assert "vs no GPU" in out


def test_template_that_prefills_think_then_text_is_caught(tokenizer, default_rewards):
    from scripts.lib.preflight.template import check_template

    section = check_template(countdown_rows(PREFILL_THEN_TEXT), default_rewards, tokenizer, "countdown")
    # Only the format reward is blind to the prefill; the answer is still read.
    assert len(section.failures) == 1 and not section.warnings
    assert section.failures[0].startswith(
        "format_reward scores a correct completion 0.0 but `opening <think> toggled` 1.0; "
        "the prompt pre-fills `<think>`")
    assert "(<think> pre-filled)" in section.summary


@pytest.mark.parametrize("task", ["countdown", "gsm8k"])
def test_every_registered_reward_passes_the_probes_on_a_healthy_template(task, tokenizer):
    # A false alarm here would stop every `make train` that uses the reward.
    from data import build_dataset
    from rewards import REWARDS, get_rewards
    from scripts.lib.recipe.arguments import R1ZeroArguments
    from scripts.lib.preflight.template import check_template

    rows = countdown_rows() if task == "countdown" else build_dataset(
        "gsm8k", str(ROOT / "tests" / "fixtures" / "gsm8k_tiny.jsonl"), template="compact")[0]
    rewards = get_rewards(list(REWARDS), R1ZeroArguments(task=task).reward_settings())
    section = check_template(rows, rewards, tokenizer, task)
    assert (section.failures, section.warnings) == ([], [])


def test_template_ending_with_think_is_healthy(tokenizer, default_rewards):
    # TinyZero's prefill: the prompt *ends* with `<think>`, which format_reward reads.
    from scripts.lib.preflight.template import check_template

    section = check_template(countdown_rows("r1_zero_prefill"), default_rewards, tokenizer, "countdown")
    assert section.failures == [] and section.warnings == []


def test_chat_template_that_prefills_think_is_caught(tiny_model_dir, default_rewards):
    from scripts.lib.preflight.template import check_template

    chat_tokenizer = load_tokenizer(str(tiny_model_dir))
    chat_tokenizer.chat_template = CHAT_TEMPLATE_WITH_THINK
    section = check_template(countdown_rows("chat"), default_rewards, chat_tokenizer, "countdown")
    assert len(section.failures) == 1
    assert section.failures[0].startswith("format_reward scores a correct completion 0.0")
    assert "the chat template pre-fills `<think>`" in section.failures[0]


def test_chat_prompts_on_a_tokenizer_without_chat_template_fail(tokenizer, default_rewards):
    from scripts.lib.preflight.template import check_template

    section = check_template(countdown_rows("chat"), default_rewards, tokenizer, "countdown")
    assert len(section.failures) == 1 and "a base model needs a plain prompt_template" in section.failures[0]


def test_constant_reward_never_fires_on_probes(tokenizer, default_rewards):
    from scripts.lib.preflight.template import check_template

    section = check_template(countdown_rows(), [*default_rewards, constant_reward], tokenizer, "countdown")
    # A custom reward is not the format or accuracy reward: a warning, not a stop.
    assert section.failures == []
    assert section.warnings == ["constant_reward gives 1.0 to every probe (correct, wrong answer, repetitive, "
                                "no tags, empty): it can never fire, no learning signal"]


def test_constant_reward_is_flagged_no_learning_signal_in_model_sample(tiny_model_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    from scripts.lib.preflight.samples import check_samples

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    section = check_samples(model, tokenizer, countdown_rows(n=2), [constant_reward], "countdown",
                            num_generations=4, max_completion_length=6)
    assert section.counts["flat_groups"] == 1.0 and section.counts["completions"] == 8
    assert section.warnings[0].startswith("every group has all-equal rewards: no learning signal")
    # An untrained model writes 6 tokens of noise: every completion is cut at the limit.
    assert section.counts["truncated"] == 1.0
    assert any("hit max_completion_length 6" in w for w in section.warnings)
    # the base audit of the same samples: no self-check, nothing for RL to amplify
    assert section.counts["verdict"].startswith(
        "reflection audit (8 completions): reflection absent: 0 of 8 completions self-check (share 0.000)")


def test_preflight_with_samples_ends_with_the_audit_verdict_line(tiny_model_dir, capsys):
    from scripts import preflight

    code = preflight.main(["--config", str(ROOT / "recipes" / "cpu_countdown_tiny.yaml"), "--model_name_or_path",
                           str(tiny_model_dir), "--tiny_base_recipe", "", "--samples", "2",
                           "--max_completion_length", "6", "--max_train_samples", "16", "--holdout_size", "4"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert lines[-1].startswith("reflection audit (") and "reflection absent" in lines[-1]


@pytest.mark.parametrize(
    "scores, weights, expected",
    [
        ({"a": [1, 1, 0, 1]}, None, 0.5),                      # group 1 flat, group 2 varies
        ({"a": [1, 1, 0, 0], "b": [0, 1, 1, 0]}, None, 0.0),   # totals 1, 2 | 1, 0: both groups vary
        ({"a": [1, 0], "b": [0, 1]}, None, 1.0),               # two rewards cancel: total 1 and 1
        ({"a": [1, 0], "b": [0, 1]}, [0.5, 1.0], 0.0),         # weights break the tie
        ({"a": [None, 1.0], "b": [1.0, 0.0]}, None, 1.0),      # None is skipped (NaN in TRL): 1 and 1
    ],
)
def test_group_signal_counts_groups_with_equal_weighted_totals(scores, weights, expected):
    from scripts.lib.preflight.samples import group_signal

    assert group_signal(scores, weights, num_generations=2) == expected


def _gsm8k_file(tmp_path, answers):
    path = tmp_path / "gsm8k.jsonl"
    path.write_text("".join(json.dumps({"question": f"Question {i}?", "answer": a}) + "\n"
                            for i, a in enumerate(answers)))
    return str(path)


def test_gsm8k_file_with_unparsable_answers_is_counted(tmp_path, tokenizer):
    from data import build_dataset
    from rewards import gsm8k_accuracy_reward
    from scripts.lib.preflight.data import check_dataset

    path = _gsm8k_file(tmp_path, [
        "3 + 4 = 7\n#### 7", "#### 1,200", "#### $30",            # fine
        "no final line", "stops here",                            # no '####': dropped at load
        "#### eighteen", "#### n/a",                              # kept, but the reward returns None
    ])
    train, test, skipped = build_dataset("gsm8k", path)
    section = check_dataset(train, test, skipped, "gsm8k", gsm8k_accuracy_reward, tokenizer, 64, 4096)
    assert {k: section.counts[k] for k in ("train_rows", "skipped_at_load", "unparsable_gold", "gold_scored_wrong",
                                           "empty_prompts", "over_context")} == {
        "train_rows": 5, "skipped_at_load": 2, "unparsable_gold": 2, "gold_scored_wrong": 0, "empty_prompts": 0,
        "over_context": 0}
    assert section.failures == []
    assert section.warnings == ["2 rows have a gold answer gsm8k_accuracy_reward cannot check (scored None: only the "
                                "format reward trains on them); clean them or set on_bad_row: fail"]


def test_gsm8k_file_where_no_gold_parses_is_a_failure(tmp_path, tokenizer):
    from data import build_dataset
    from rewards import gsm8k_accuracy_reward
    from scripts.lib.preflight.data import check_dataset

    train, test, skipped = build_dataset("gsm8k", _gsm8k_file(tmp_path, ["#### eighteen", "#### unknown"]))
    section = check_dataset(train, test, skipped, "gsm8k", gsm8k_accuracy_reward, tokenizer, 64, 4096)
    assert section.failures == ["gsm8k_accuracy_reward cannot check any gold answer (None for all 2 rows): accuracy "
                                "can never fire; check the dataset's answer column"]


def test_long_prompts_empty_prompts_and_leaked_holdout_are_counted(tokenizer):
    from data.prompts import build_r1_zero_prompt
    from rewards import countdown_reward
    from scripts.lib.preflight.data import check_dataset, prompt_token_lengths

    rows = countdown_rows(n=4)
    empty = {**rows[0], "prompt": build_r1_zero_prompt("", "compact")}
    train, held_out = rows + [empty], [rows[1]]
    lengths = prompt_token_lengths([r["prompt"] for r in train + held_out], tokenizer)
    limit = max(lengths) + 10  # the longest prompt fits only with completions of <= 10 tokens
    over = sum(n + 20 > limit for n in lengths)
    section = check_dataset(train, held_out, 0, "countdown", countdown_reward, tokenizer, 20, limit,
                            empty_prompt=empty["prompt"])
    counts = section.counts
    assert (counts["empty_prompts"], counts["holdout_in_train"], counts["over_context"]) == (1, 1, over)
    assert over >= 1 and any(f"lower max_completion_length to 10 or drop prompts over {limit - 20} tokens" in w
                             for w in section.warnings)


def test_memory_estimate_counts_reference_model_and_optimizer_by_setting():
    from transformers import Qwen2Config
    from trl import GRPOConfig

    from scripts.lib.preflight.memory import estimate_memory, parameter_counts

    config = Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=2, vocab_size=100)
    n, trainable = parameter_counts(config)
    assert n == trainable == sum(p.numel() for p in __import__("transformers").Qwen2ForCausalLM(config).parameters())

    def parts(**kw):
        args = GRPOConfig(output_dir="/tmp/unused", use_cpu=True, bf16=False, per_device_train_batch_size=4,
                          num_generations=4, max_completion_length=8, **kw)
        return estimate_memory(config, n, trainable, args, seq_len=16, weight_bytes=4, peft=False)

    with_kl, without_kl = parts(beta=0.04), parts(beta=0.0)
    assert with_kl["reference model"] == n * 4 and without_kl["reference model"] == 0
    assert with_kl["optimizer"] == 8 * n and parts(optim="adamw_8bit")["optimizer"] == 2 * n
    # KV cache: 4 sequences x 16 positions x (k, v) x 2 layers x 2 heads x 16 dims x 4 bytes
    assert with_kl["generation KV cache"] == 4 * 16 * 2 * 2 * 2 * 16 * 4


def test_train_stops_before_training_on_a_prefill_the_reward_cannot_see(tiny_model_dir, tmp_path, capsys):
    from scripts.train import run

    code = run(recipe_args(tiny_model_dir, "--output_dir", str(tmp_path / "out"), "--prompt_template",
                           PREFILL_THEN_TEXT))
    captured = capsys.readouterr()
    assert code == 2
    errors = captured.err.strip().splitlines()
    assert errors[-1].startswith("error: preflight: template: format_reward scores a correct completion 0.0")
    assert "preflight FAILED (1 failure(s)" in captured.out
    assert "held-out before" not in captured.out and not (tmp_path / "out" / "checkpoint-1").exists()


def test_recipe_key_turns_the_automatic_preflight_off():
    from scripts.lib.recipe.parsing import parse_recipe

    script_args, _, _ = parse_recipe(["--config", RECIPE, "--preflight", "false"])
    assert script_args.preflight is False
    assert parse_recipe(["--config", RECIPE])[0].preflight is True


def test_overlong_penalty_is_probed_at_the_completion_budget(tokenizer, default_rewards):
    # DAPO's recipe: the penalty starts 1,536 tokens before its 3,072-token budget, so the short probes never
    # reached it and preflight said it "can never fire" (found rehearsing recipes/qwen2.5-math-7b_dapo.yaml).
    from rewards import get_reward
    from scripts.lib.preflight.template import check_template

    overlong = get_reward("soft_overlong_punishment_reward", max_completion_len=200, soft_punish_cache=50)
    rewards = [*default_rewards, overlong]
    section = check_template(countdown_rows(), rewards, tokenizer, "countdown", max_completion_length=200)
    assert (section.failures, section.warnings) == ([], [])
    # A budget that stops every completion before the penalty starts keeps the alarm: it is true for that run.
    section = check_template(countdown_rows(), rewards, tokenizer, "countdown", max_completion_length=100)
    assert section.warnings[0].startswith("soft_overlong_punishment_reward gives 0.0 to every probe")
