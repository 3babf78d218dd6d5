"""Preprocessors and prompt rendering: rows in, R1-Zero prompts with gold columns out."""

from __future__ import annotations

import pytest

from conftest import FIXTURES
from data import build_dataset, build_r1_zero_prompt, countdown_splits, generate_countdown, load_gsm8k
from data.countdown import countdown_key, load_countdown
from data.loading import DataError
from data.prompts import PROMPT_TEMPLATES
from rewards import countdown_reward

GSM8K = str(FIXTURES / "gsm8k_tiny.jsonl")


def test_r1_zero_template_is_the_papers_and_ends_with_assistant():
    prompt = build_r1_zero_prompt("What is 2+3?", "r1_zero")
    assert prompt.startswith("A conversation between User and Assistant.")
    assert "<think> reasoning process here </think> <answer> answer here </answer>" in prompt
    assert prompt.endswith("User: What is 2+3? Assistant:")


def test_chat_template_gives_system_and_user_messages():
    messages = build_r1_zero_prompt("Q?", "chat")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "<think>" in messages[0]["content"] and messages[1]["content"] == "Q?"


def test_custom_template_with_braces_in_question():
    assert build_r1_zero_prompt("Is {1,2} a set?", "Q: {question} A:") == "Q: Is {1,2} a set? A:"


def test_unknown_template_names_the_valid_ones():
    with pytest.raises(ValueError, match="r1_zero"):
        build_r1_zero_prompt("q", "r1zero")


def test_every_template_renders():
    for name in PROMPT_TEMPLATES:
        assert build_r1_zero_prompt("QUESTION", name)


def test_gsm8k_local_jsonl_gold_after_hashes_commas_stripped_bad_row_counted():
    rows, skipped = load_gsm8k(GSM8K, template="r1_zero")
    assert [r["solution"] for r in rows] == ["7", "2400", "30", "60"]
    assert skipped == 1
    assert rows[0]["prompt"].endswith("How many apples does he have? Assistant:")


def test_gsm8k_bad_row_can_fail_loudly_with_its_row_number():
    with pytest.raises(ValueError, match="row 4"):
        load_gsm8k(GSM8K, on_bad_row="fail")


def test_countdown_generator_is_seeded_and_every_problem_is_solvable():
    rows = generate_countdown(200, seed=3, n_numbers=(3, 4))
    assert rows == generate_countdown(200, seed=3, n_numbers=(3, 4))
    assert rows != generate_countdown(200, seed=4, n_numbers=(3, 4))
    for row in rows:
        completion = f"<answer> {row['solution']} </answer>"
        assert countdown_reward([completion], nums=[row["nums"]], target=[row["target"]]) == [1.0], row
        assert 3 <= len(row["nums"]) <= 4 and 1 <= row["target"] <= 100


def test_countdown_held_out_split_is_disjoint_from_training():
    train, test = countdown_splits(3000, 200, seed=0, n_numbers=3, number_range=(1, 9), target_range=(10, 99),
                                   ops="+-*", chain=True)
    held_out = {countdown_key(r["nums"], r["target"]) for r in test}
    assert len(test) == 200
    assert not any(countdown_key(r["nums"], r["target"]) in held_out for r in train)


def test_countdown_reads_the_tinyzero_shape(tmp_path):
    path = tmp_path / "cd.jsonl"
    path.write_text('{"target": 24, "nums": [4, 6, 1]}\n{"target": "x", "nums": [1]}\n')
    rows, skipped = load_countdown(str(path), template="r1_zero")
    assert skipped == 1 and rows[0]["nums"] == [4, 6, 1] and rows[0]["target"] == 24
    assert "[4, 6, 1]" in rows[0]["prompt"] and "equals 24" in rows[0]["prompt"]


def test_build_dataset_holds_out_the_tail_of_a_single_file():
    train, test, skipped = build_dataset("gsm8k", GSM8K, test_size=1, template="r1_zero")
    assert [r["solution"] for r in train] == ["7", "2400", "30"] and [r["solution"] for r in test] == ["60"]


@pytest.mark.parametrize("content,message", [
    (None, "not found"),
    ("", "empty"),
    ('{"question": "q", "answer": "#### 1"}\n{"question": oops}\n', ":2: not valid JSON"),
])
def test_bad_dataset_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "data.jsonl"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=message):
        build_dataset("gsm8k", str(path))
