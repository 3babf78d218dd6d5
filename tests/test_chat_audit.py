"""scripts/lib/preflight/chat_audit.py and preflight's chat section on crafted chat templates (no download)."""

from __future__ import annotations

import pytest

from scripts.lib.preflight.chat_audit import special_tags, tag_shares, template_additions, turn_end_token
from scripts.lib.preflight.chat_audit import check_chat
from scripts.lib.models.loading import load_tokenizer
from rewards import get_rewards

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
# SmolLM2's behaviour: a default system prompt when the conversation has none.
INJECTING = ("{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are a helpful AI assistant named "
             "SmolLM, trained by Hugging Face<|im_end|>\n{% endif %}" + CHATML)
# Llama 3.1's behaviour: text added even when a system message is given.
ALWAYS = CHATML.replace("{{ m['content'] }}", "{% if m['role'] == 'system' %}Today Date: 26 Jul 2024\n{% endif %}"
                        "{{ m['content'] }}")
MESSAGES = [{"role": "system", "content": "Think in <think> </think>."}, {"role": "user", "content": "2+3?"}]


@pytest.fixture()
def tokenizer(tiny_model_dir):
    # As every command loads it (scripts/lib/models/loading.py): AutoTokenizer would rebuild the tiny model's
    # tokenizer as Qwen2's and lose its words, tags included.
    tok = load_tokenizer(str(tiny_model_dir))
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.eos_token = tok.pad_token = "<|im_end|>"
    return tok


@pytest.mark.parametrize("template, messages, expected", [
    (CHATML, MESSAGES, ""),                                   # only wraps what it is given
    (CHATML, MESSAGES[1:], ""),                               # no system message, nothing added
    (INJECTING, MESSAGES, ""),                                # the recipe's system prompt replaces the default
    (INJECTING, MESSAGES[1:], "You are a helpful AI assistant named SmolLM, trained by Hugging Face"),
    (ALWAYS, MESSAGES, "Today Date: 26 Jul 2024"),            # added despite the system message
])
def test_template_additions(tokenizer, template, messages, expected):
    tokenizer.chat_template = template
    assert template_additions(tokenizer, messages) == expected


def test_turn_end_and_special_tags(tokenizer):
    tokenizer.chat_template = CHATML
    assert turn_end_token(tokenizer) == "<|im_end|>"
    assert special_tags(tokenizer) == []
    tokenizer.add_special_tokens({"additional_special_tokens": ["<think>"]})
    assert special_tags(tokenizer) == ["<think>"]


def test_tag_shares_counts_completions():
    assert tag_shares(["<think> a", "no tags", "<answer> 3 </answer>", "x"])["any"] == 0.5


def test_check_chat_warns_on_injection_and_never_opened_think(tokenizer):
    rewards = get_rewards(["format_reward", "gsm8k_accuracy_reward"])
    tokenizer.chat_template = ALWAYS
    section = check_chat(MESSAGES, tokenizer, rewards, sample_texts=["The answer is 5.", "It is 5."])
    assert section.status == "warn" and not section.failures
    assert section.warnings[0].startswith('the chat template adds text the recipe did not write: "Today Date: 26 Jul')
    assert "never opens <think> (0 of 2 samples): format_reward is 0" in section.warnings[1]
    assert "add format_shaped_reward" in section.warnings[1]

    tokenizer.chat_template = INJECTING
    section = check_chat(MESSAGES, tokenizer, rewards, sample_texts=["<think> 5 </think> <answer> 5 </answer>"])
    assert section.status == "ok"
    assert 'without a system message the template adds "You are a helpful AI assistant named SmolLM' in section.summary
    assert "pad = eos = <|im_end|>" in section.summary and "<think> in 100%" in section.summary


def test_check_chat_fails_when_a_tag_is_a_special_token(tokenizer):
    tokenizer.chat_template = CHATML
    tokenizer.add_special_tokens({"additional_special_tokens": ["<think>"]})
    section = check_chat(MESSAGES, tokenizer, get_rewards(["format_reward"]))
    assert section.failures and section.failures[0].startswith("<think> are special tokens")


def test_check_chat_proves_trls_decode_keeps_the_tags(tokenizer):
    # A correct completion written as token ids and decoded as TRL decodes it (skip_special_tokens=True).
    tokenizer.chat_template = CHATML
    section = check_chat(MESSAGES, tokenizer, get_rewards(["format_reward"]))
    assert not section.failures
    assert "TRL's decode keeps every tag of a correct completion (format_reward 1.0)" in section.summary

    tokenizer.add_special_tokens({"additional_special_tokens": ["</think>"]})
    section = check_chat(MESSAGES, tokenizer, get_rewards(["format_reward"]))
    assert ("TRL's decode (skip_special_tokens=True) of a correct completion loses </think>: format_reward "
            "1.0 -> 0.0") in section.failures[-1]
