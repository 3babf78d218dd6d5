"""An export reads with the standard loaders exactly as training read it (issue #28).

``AutoTokenizer``, ``AutoModelForCausalLM`` and ``pipeline("text-generation")`` on the exported folder, no
kit code, against the model and tokenizer as training loads them (``load_model_and_tokenizer``) from the
folder that was exported: the same token ids on the CPU recipe's 512 held-out prompts and the same
greedy completions on 16 of them, for the CPU demo's word-level tokenizer (a trained checkpoint), a
ChatML-templated Qwen-style stand-in and the real SmolLM2 folder when present. (Comparing the standard
loaders with the kit's on one and the same hub-style folder would compare ``AutoTokenizer`` with itself.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import export
from scripts.lib.models.hf_export import loading_mismatch, use_lines
from scripts.lib.models.loading import load_model_and_tokenizer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def held_out_prompts() -> list[str]:
    """The 512 held-out prompts of recipes/cpu_countdown_tiny.yaml, rendered as training renders them."""
    from data.countdown import countdown_question, countdown_splits
    from data.prompts import build_r1_zero_prompt
    from scripts.lib.models.tiny_base.task import recipe_tiny_base_task

    task = recipe_tiny_base_task(str(ROOT / "recipes" / "cpu_countdown_tiny.yaml"))
    _, rows = countdown_splits(0, task["test_size"], seed=task["seed"], **task["countdown"])
    prompts = [build_r1_zero_prompt(countdown_question(r["nums"], r["target"], task["question_style"]), task["template"])
               for r in rows]
    assert len(prompts) == 512
    return [p if isinstance(p, str) else p[-1]["content"] for p in prompts]


def loaded_as_training_loads(folder):
    """(model, tokenizer) of ``folder`` through training's own loading, as ``scripts.train`` does."""
    from types import SimpleNamespace

    from trl import ModelConfig

    return load_model_and_tokenizer(ModelConfig(model_name_or_path=str(folder)), SimpleNamespace(trust_remote_code=False))


def export_matches_training(source, out, texts, generate: int) -> str | None:
    """Export ``source``, then compare the standard loaders on the export with training's loading of ``source``."""
    assert export.main([str(source), str(out)]) == 0
    kit_model, kit_tokenizer = loaded_as_training_loads(source)
    return loading_mismatch(out, texts, kit_tokenizer, kit_model, generate=generate)


@pytest.mark.parametrize("which", ["checkpoint-2", "checkpoint-3"])
def test_export_of_a_trained_checkpoint_loads_like_training(tracked_run, tmp_path, held_out_prompts, which):
    run, _ = tracked_run
    out = tmp_path / "export"
    assert export_matches_training(run / which, out, held_out_prompts, generate=16) is None
    # the model card shows exactly the lines checked here
    card = (out / "README.md").read_text()
    assert "\n".join(use_lines(out)) in card


def test_the_standard_loader_on_the_raw_qwen2_checkpoint_is_caught(tracked_run, held_out_prompts):
    """Why the export changes the architecture name: a qwen2 folder with the kit's tokenizer reads wrong."""
    run, _ = tracked_run
    problem = loading_mismatch(run / "checkpoint-3", held_out_prompts[:4])
    assert problem is not None and "AutoTokenizer (Qwen2Tokenizer)" in problem


@pytest.fixture(scope="module")
def qwen_style_dir(tmp_path_factory, held_out_prompts) -> Path:
    """A Qwen-style byte-level BPE (Qwen2's pre-tokenizer) with the ChatML template and a tiny Qwen2 model."""
    import torch
    from tokenizers import Tokenizer, models, trainers
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen2Tokenizer

    from scripts.bench.model_shapes import CHATML_TEMPLATE

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    shaped = Qwen2Tokenizer()._tokenizer  # Qwen2's normalizer, pre-tokenizer and decoder, empty vocab
    bpe = Tokenizer(models.BPE())
    bpe.normalizer, bpe.pre_tokenizer, bpe.decoder = shaped.normalizer, shaped.pre_tokenizer, shaped.decoder
    from tokenizers import pre_tokenizers

    bpe.train_from_iterator(held_out_prompts + ["<think> 3 + 4 = 7 </think> <answer> 3 + 4 </answer>"],
                            trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    out = tmp_path_factory.mktemp("qwen_style") / "model"
    saved = out / "bpe.json"
    out.mkdir(parents=True)
    bpe.save(str(saved))
    import json

    model_json = json.loads(saved.read_text())["model"]
    tokenizer = Qwen2Tokenizer(vocab=model_json["vocab"], merges=[tuple(m) for m in model_json["merges"]],
                               extra_special_tokens=specials[1:])
    tokenizer.chat_template = CHATML_TEMPLATE
    saved.unlink()
    tokenizer.save_pretrained(str(out))
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    Qwen2ForCausalLM(config).save_pretrained(str(out))
    return out


def test_qwen_style_bpe_with_chatml_loads_like_training(qwen_style_dir, held_out_prompts, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(qwen_style_dir)
    assert type(tokenizer).__name__ == "Qwen2Tokenizer" and len(tokenizer("nums 3 4 5")["input_ids"]) > 3
    assert export_matches_training(qwen_style_dir, tmp_path / "export", held_out_prompts, generate=16) is None


SMOLLM = ROOT / "outputs" / "models" / "SmolLM2-135M-Instruct"  # written by `make smollm`


@pytest.mark.skipif(not SMOLLM.is_dir(), reason="no outputs/models/SmolLM2-135M-Instruct (make smollm)")
def test_real_smollm2_export_loads_like_training(held_out_prompts, tmp_path):
    assert export_matches_training(SMOLLM, tmp_path / "export", held_out_prompts, generate=4) is None

