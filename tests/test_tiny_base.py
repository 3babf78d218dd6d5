"""The tiny offline base: its tokenizer survives a save/load, and its corpus teaches only true checks."""

from __future__ import annotations

import random

from conftest import ROOT, TINY_TASK
from rewards import countdown_reward, format_reward
from scripts.lib.measure.reflection import analyze_countdown_completion
from scripts.lib.measure.trace_grammar import count_claims, parse_tries
from scripts.lib.models.loading import load_tokenizer
from scripts.lib.models.tiny_base.config import TinyBaseConfig
from scripts.lib.models.tiny_base.corpus import _chains, make_trace


def test_saved_tokenizer_is_word_level_and_loads_as_saved(tiny_model_dir):
    # transformers would otherwise swap in Qwen2Tokenizer (digit by digit) for a qwen2 folder.
    tokenizer = load_tokenizer(str(tiny_model_dir))
    assert tokenizer.tokenize(" 18 -6 <think> recheck") == ["18", "-6", "<think>", "recheck"]
    text = " <think> 3 - 9 = -6 , -6 * 3 = -18 vs 18 wait </think> <answer> ( 3 - 9 ) * 3 </answer>"
    ids = tokenizer(text)["input_ids"]
    assert len(ids) == len(text.split()) and tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == text.strip()


def test_search_traces_are_honest_and_exact_ones_score_format():
    cfg = TinyBaseConfig(search_share=1.0, exact_format_share=1.0)
    rng = random.Random(0)
    for _ in range(200):
        nums, target = [rng.randint(1, 9) for _ in range(3)], rng.randint(10, 99)
        text, weighted = make_trace(rng, nums, target, cfg, "+-*")
        true, total = count_claims(text, target)
        assert total > 0 and true == total, text
        assert format_reward([text]) == [1.0]
        tries = parse_tries(text, target, nums)
        assert cfg.min_tries <= len(tries) or tries[-1]["verdict"] == "ok", text
        assert all(t["arithmetic_true"] and t["check_true"] for t in tries), text
        assert len({t["expression"] for t in tries}) == len(tries), text   # distinct tries
        # every failed check but the last is followed by going back
        record = analyze_countdown_completion(text, target, nums)
        assert record["went_back_after_failed"] == record["failed_checks"] - (tries[-1]["verdict"] == "wait")
        weight_at = dict(weighted)
        verdicts = [i + 1 for i in range(len(text)) if text.startswith((" ok ", " wait "), i)]
        assert verdicts and all(weight_at[o] == cfg.check_loss_weight for o in verdicts), (text, weighted)
        if " ok" in text:
            assert countdown_reward([text], nums=[nums], target=[target]) == [1.0], text


def test_loss_weights_sit_on_values_verdicts_and_decisions():
    cfg = TinyBaseConfig(search_share=1.0, exact_format_share=1.0, search_hit_rate=1.0, min_tries=3, max_tries=3)
    for seed in range(20):
        text, weighted = make_trace(random.Random(seed), [3, 2, 3], 18, cfg, "+-*")
        words = {text[o:].split()[0]: w for o, w in weighted}
        assert words.get("wait", cfg.check_loss_weight) == cfg.check_loss_weight
        assert words.get("recheck", cfg.go_back_loss_weight) == cfg.go_back_loss_weight
        if "ok" in text:
            assert words["ok"] == cfg.check_loss_weight and words["</think>"] == cfg.stop_loss_weight
        assert words["18"] == cfg.value_loss_weight   # the target after `vs`


def test_lazy_traces_never_check():
    cfg = TinyBaseConfig(search_share=0.0, exact_format_share=1.0, guess_share=0.5)
    rng = random.Random(2)
    traces = [make_trace(rng, [3, 4, 5], 23, cfg, "+-*")[0] for _ in range(400)]
    assert not any(" vs " in t or "recheck" in t for t in traces)
    guesses = sum("guess" in t for t in traces) / len(traces)
    assert 0.4 < guesses < 0.6
    assert all(len(parse_tries(t, 23)) == (0 if "guess" in t else 1) for t in traces)


def test_chains_do_not_repeat_commutative_first_steps():
    chains = list(_chains([3, 2, 3], "+-*"))
    firsts = {(x, o, y) for x, o, y, *_ in chains}
    assert (3, "+", 2) not in firsts and (2, "+", 3) in firsts and (3, "-", 2) in firsts
    assert len(chains) == len(set(chains)) == 21


def test_corpus_mix_follows_the_recipe_shares():
    cfg = TinyBaseConfig(search_share=0.2, exact_format_share=0.25)
    rng = random.Random(1)
    traces = [make_trace(rng, [3, 4, 5], 23, cfg, "+-*")[0] for _ in range(4000)]
    search = sum(" vs " in t for t in traces) / len(traces)
    exact = sum(format_reward(traces)) / len(traces)
    # answer_only traces (1 in 6 of the mis-formatted) have no think: slightly under the 20 % share
    assert 0.15 < search < 0.21 and 0.22 < exact < 0.28
    assert TINY_TASK["template"] == "compact"


def test_audit_reports_the_gate_on_any_model(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    from data.countdown import countdown_question
    from data.prompts import build_r1_zero_prompt
    from scripts.lib.models.tiny_base.audit import audit_base

    tokenizer = load_tokenizer(str(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    rows = [{"prompt": build_r1_zero_prompt(countdown_question([3, 2, 3], 18, "terse"), "compact"),
             "nums": [3, 2, 3], "target": 18}] * 4
    audit = audit_base(model, tokenizer, rows, TinyBaseConfig(audit_max_tokens=6))
    # an untrained model does not search: no reflection, the gate fails, and the line says so
    assert audit["n"] == 4 and audit["verdict"] == "absent" and audit["gate"] is False
    assert "FAILS the gate" in audit["gate_line"] and "P(go back | failed check)" in audit["gate_line"]


def test_config_defaults_equal_the_recipe():
    """TinyBaseConfig's defaults are the recipe's values: a default can never silently differ from it."""
    import dataclasses

    import yaml

    from scripts.lib.models.tiny_base.config import TinyBaseConfig

    recipe = yaml.safe_load((ROOT / "recipes" / "tiny_base" / "countdown.yaml").read_text())
    defaults = {f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
                for f in dataclasses.fields(TinyBaseConfig)}
    assert set(recipe) <= set(defaults)
    assert {k: defaults[k] for k in recipe} == recipe


def test_audit_samples_as_long_as_training_does():
    import yaml

    base = yaml.safe_load((ROOT / "recipes" / "tiny_base" / "countdown.yaml").read_text())
    train = yaml.safe_load((ROOT / "recipes" / "cpu_countdown_tiny.yaml").read_text())
    assert base["audit_max_tokens"] == train["max_completion_length"]
    assert base["max_position_embeddings"] >= train["max_completion_length"] + 40


def test_corpus_writer_and_parser_agree_on_every_word():
    """Every trace the corpus writer makes reads back with the grammar: every try, verdict and go-back."""
    import random

    from scripts.lib.models.tiny_base.config import TinyBaseConfig
    from scripts.lib.models.tiny_base.corpus import make_trace
    from scripts.lib.measure.trace_grammar import CONFIRMED, FAILED, GO_BACK, NEXT, parse_tries

    cfg = TinyBaseConfig(search_share=1.0, exact_format_share=1.0, search_hit_rate=0.5, near_miss_share=0.5)
    rng = random.Random(3)
    seen = set()
    for _ in range(300):
        nums = [rng.randint(1, 9) for _ in range(3)]
        x, y, z = nums
        target = (x + y) * z
        text, _ = make_trace(rng, nums, target, cfg, "+-*")
        tries = parse_tries(text, target, nums)
        assert tries and all(t["verdict"] in (CONFIRMED, FAILED) and t["check_true"] and t["arithmetic_true"]
                             for t in tries)
        assert text.count(f"{GO_BACK} {NEXT}") == len(tries) - 1
        assert all(t["verdict"] == FAILED for t in tries[:-1])
        seen.add(tries[-1]["verdict"])
    assert seen == {CONFIRMED, FAILED}   # searches that stop on a hit and searches that give up


def test_loading_a_model_imports_no_tiny_base_code():
    """`import scripts.lib.models.loading` in a fresh interpreter leaves the tiny base (its corpus writer,
    pretraining loop and audit) unimported: the entry points build the base before they load it."""
    import subprocess
    import sys

    code = "import sys, scripts.lib.models.loading; print(sorted(m for m in sys.modules if 'tiny_base' in m))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_every_tiny_base_recipe_counts_exactly_the_grammars_go_back():
    """A recipe whose model writes the trace grammar names its go-back word in ``reflection_phrases`` (a
    recipe is YAML, it cannot import the grammar): renaming GO_BACK without the recipe fails here. Going
    back counts as a self-check; a failed check that gives up, a confirmed one or a lazy try does not."""
    import yaml

    from scripts.lib.measure.reflection import has_self_check
    from scripts.lib.measure.trace_grammar import CONFIRMED, FAILED, GO_BACK, GUESS, NEXT

    recipes = [p for p in sorted((ROOT / "recipes").glob("*.yaml")) if yaml.safe_load(p.read_text()).get("tiny_base_recipe")]
    assert recipes, "no recipe builds a tiny base"
    went_back = f"<think> 3 + 3 = 6 , 6 * 2 = 12 vs 18 {FAILED} {GO_BACK} {NEXT} 3 * 6 = 18 vs 18 {CONFIRMED} </think>"
    not_back = [f"<think> 3 + 3 = 6 , 6 * 2 = 12 vs 18 {FAILED} </think>",       # gives up after a failed check
                f"<think> 3 * 6 = 18 vs 18 {CONFIRMED} </think>",              # first try confirmed
                f"<think> {GUESS} </think>", "<think> 3 + 4 = 7 , 7 * 2 = 14 </think>"]   # lazy
    for recipe in recipes:
        phrases = yaml.safe_load(recipe.read_text()).get("reflection_phrases")   # None: the default list
        assert has_self_check(went_back, phrases), f"{recipe.name}: reflection_phrases miss the go-back `{GO_BACK}`"
        assert not any(has_self_check(t, phrases) for t in not_back), f"{recipe.name}: counts a trace that did not go back"


def test_the_tiny_base_plan_is_derived_once_from_the_parsed_recipe():
    """``make train`` and ``build_tiny_base`` read the recipe's arguments into one plan; the task in it is the
    one the tests' fixture base and the benches derive from the recipe file."""
    from scripts.lib.models.tiny_base.config import read_tiny_base_recipe
    from scripts.lib.models.tiny_base.task import recipe_tiny_base_task, tiny_base_plan
    from scripts.lib.recipe.parsing import parse_recipe

    recipe = str(ROOT / "recipes" / "cpu_countdown_tiny.yaml")
    small = str(ROOT / "tests" / "fixtures" / "tiny_base_small.yaml")
    plan = tiny_base_plan(*parse_recipe(["--config", recipe, "--tiny_base_recipe", small,
                                         "--model_name_or_path", "somewhere/base"]))
    assert plan.folder == "somewhere/base" and plan.recipe == small
    assert plan.config == read_tiny_base_recipe(small)
    assert plan.task == recipe_tiny_base_task(recipe)
    assert tiny_base_plan(*parse_recipe(["--config", recipe, "--tiny_base_recipe", ""])) is None
