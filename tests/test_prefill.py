"""The `<think>` prefill for chat models (``prompt_template: chat_think``) and the arithmetic task.

TRL 1.16 closes a trailing assistant message (``<think><|im_end|>``) and opens a fresh turn, so the
kit renders the prefilled prompt to text before TRL sees it; the format reward then counts the
``<think>`` that sits in the prompt (open-r1 #235's trap), so a completion that starts inside the
thinking scores 1.0 and one that repeats the tag scores 0.0.
"""

from __future__ import annotations

import pytest

from data.arithmetic import arithmetic_splits, arithmetic_to_r1_zero, generate_arithmetic
from data.build import build_dataset
from data.loading import DataError
from data.prompts import build_r1_zero_prompt, render_prompt, trl_prompt
from rewards import get_reward
from rewards.format_rewards import format_reward, format_shaped_reward
from scripts.bench.model_shapes import CHATML_TEMPLATE

SYSTEM = "Think inside <think> </think>, answer inside <answer> </answer>."


@pytest.fixture(scope="module")
def chatml_tokenizer():
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(WordLevel({"<unk>": 0, "<|im_end|>": 1}, unk_token="<unk>"))
    raw.pre_tokenizer = WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="<unk>", eos_token="<|im_end|>")
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def test_chat_think_opens_the_assistant_turn_and_prefills_think(chatml_tokenizer):
    messages = build_r1_zero_prompt("What is 2 + 3?", "chat_think", SYSTEM)
    assert messages[-1] == {"role": "assistant", "content": "<think>"}
    text = render_prompt(messages, chatml_tokenizer)
    assert text == (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n"
                    "<|im_start|>assistant\n<think>")
    # What GRPOTrainer gets: that text, not messages it would render with the prefill closed.
    assert trl_prompt(messages, chatml_tokenizer) == text
    plain_chat = build_r1_zero_prompt("What is 2 + 3?", "chat", SYSTEM)
    assert trl_prompt(plain_chat, chatml_tokenizer) is plain_chat
    assert trl_prompt("User: hi Assistant:", chatml_tokenizer) == "User: hi Assistant:"


def test_trl_would_lose_the_prefill_without_the_kits_rendering(chatml_tokenizer):
    """What TRL 1.16 does with a conversational prompt: add_generation_prompt=True on every message."""
    messages = build_r1_zero_prompt("What is 2 + 3?", "chat_think", SYSTEM)
    trl_text = chatml_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert trl_text.endswith("<think><|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.parametrize("prompt_kind", ["text", "messages"])
def test_format_reward_counts_the_think_tag_in_the_prompt(chatml_tokenizer, prompt_kind):
    messages = build_r1_zero_prompt("What is 2 + 3?", "chat_think", SYSTEM)
    prompt = render_prompt(messages, chatml_tokenizer) if prompt_kind == "text" else messages
    completions = [" 2 + 3 = 5 </think> <answer> 5 </answer>",          # continues the prefilled thinking
                   "<think> 2 + 3 = 5 </think> <answer> 5 </answer>",   # repeats the tag: two <think>
                   " 2 + 3 = 5 <answer> 5 </answer>"]                   # never closes the thinking
    prompts = [prompt] * 3
    assert format_reward(completions, prompts=prompts) == [1.0, 0.0, 0.0]
    assert format_shaped_reward(completions, prompts=prompts) == [1.0, 0.75, 0.75]
    # The same completions with a prompt that does not prefill: the tag must be in the completion.
    assert format_reward(completions, prompts=["User: What is 2 + 3? Assistant:"] * 3) == [0.0, 1.0, 0.0]
    accuracy = get_reward("gsm8k_accuracy_reward")
    assert accuracy(completions, solution=["5"] * 3, prompts=prompts) == [1.0, 1.0, 1.0]


def test_arithmetic_rows_for_a_seed_are_exact_and_right():
    assert generate_arithmetic(3, seed=0) == [{"question": "What is 13 + 14?", "answer": 27},
                                              {"question": "What is 9 + 17?", "answer": 26},
                                              {"question": "What is 13 + 10?", "answer": 23}]
    for op in "+-*":
        for row in generate_arithmetic(200, seed=1, max_number=12, ops=op):
            a, shown_op, b = row["question"].removeprefix("What is ").removesuffix("?").split()
            assert shown_op == op and 1 <= int(a) <= 12 and 1 <= int(b) <= 12
            assert row["answer"] == {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op]
            assert row["answer"] >= 0


def test_arithmetic_held_out_is_distinct_and_never_trained_on():
    train, test = arithmetic_splits(2000, 128, seed=42)
    questions = [row["question"] for row in test]
    assert len(questions) == len(set(questions)) == 128
    assert not set(questions) & {row["question"] for row in train}
    assert arithmetic_splits(2000, 128, seed=42) == (train, test)
    with pytest.raises(ValueError, match="raise arithmetic_max_number"):
        arithmetic_splits(10, 50, seed=0, max_number=5)  # only 25 distinct sums exist


def test_arithmetic_task_builds_gsm8k_shaped_rows_the_accuracy_reward_scores():
    train, test, skipped = build_dataset("arithmetic", template="chat_think", system_prompt=SYSTEM,
                                         max_train_samples=100, test_size=16, seed=42,
                                         arithmetic={"max_number": 20, "ops": "+"})
    assert (len(train), len(test), skipped) == (100, 16, 0)
    row = test[0]
    assert row["prompt"][-1]["content"] == "<think>" and row["prompt"][1]["content"] == row["question"]
    a, _, b = row["question"].removeprefix("What is ").removesuffix("?").split()
    assert row["solution"] == str(int(a) + int(b))
    with pytest.raises(DataError, match="raise arithmetic_max_number"):
        build_dataset("arithmetic", test_size=50, arithmetic={"max_number": 5, "ops": "+"})
    rows, bad = arithmetic_to_r1_zero([{"question": "What is 1 + 1?", "answer": "two"}])
    assert (rows, bad) == ([], 1)
