"""The tiny offline base: its tokenizer survives a save/load, and its corpus teaches only true checks."""

from __future__ import annotations

import random

from conftest import TINY_TASK
from rewards import countdown_reward, format_reward
from rewards.reflection import countdown_check_claims
from scripts.lib.models import load_tokenizer
from scripts.lib.tiny_base import TinyBaseConfig, make_trace


def test_saved_tokenizer_loads_with_its_own_pre_tokenizer(tiny_model_dir):
    # transformers would otherwise swap in Qwen2Tokenizer (digit by digit) for a qwen2 folder.
    tokenizer = load_tokenizer(str(tiny_model_dir))
    assert tokenizer.tokenize(" 18 -6 <think>") == ["Ġ18", "Ġ-6", " <think>"]
    ids = tokenizer(" <think> 3 - 9 = -6 ok </think>")["input_ids"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "<think> 3 - 9 = -6 ok</think>"


def test_search_traces_are_honest_and_exact_ones_score_format():
    cfg = TinyBaseConfig(search_share=1.0, exact_format_share=1.0)
    rng = random.Random(0)
    for _ in range(200):
        nums, target = [rng.randint(1, 9) for _ in range(3)], rng.randint(10, 99)
        text, decisions = make_trace(rng, nums, target, cfg, "+-*")
        true, total = countdown_check_claims(text, target)
        assert total > 0 and true == total, text
        assert format_reward([text]) == [1.0]
        assert all(text[d + 1:].startswith(("ok", "wait")) for d in decisions), (text, decisions)
        if " ok" in text:
            assert countdown_reward([text], nums=[nums], target=[target]) == [1.0], text


def test_corpus_mix_follows_the_recipe_shares():
    cfg = TinyBaseConfig(search_share=0.2, exact_format_share=0.25)
    rng = random.Random(1)
    traces = [make_trace(rng, [3, 4, 5], 23, cfg, "+-*")[0] for _ in range(4000)]
    search = sum("recheck" in t or (" ok" in t and t.count(" vs ") > 1) for t in traces) / len(traces)
    exact = sum(format_reward(traces)) / len(traces)
    # search traces whose first try hits look lazy: slightly under the 20 % share
    assert 0.12 < search < 0.2 and 0.22 < exact < 0.28
    assert TINY_TASK["template"] == "compact"
