"""A recipe's model as a random stand-in: its architecture scaled down to a CPU, its real tokenizer.

``make rehearse`` runs each GPU recipe on CPU with such a model. What decides a run's tokens is kept as the
checkpoint has it: the embedding rows (``vocab_size``, 151,936 for most Qwen checkpoints, 152,064 for
Qwen2.5-Math-7B: every id the tokenizer can produce has a row), tied or untied embeddings, rotary base and positions, the model family (Qwen2 for Qwen2.5,
Qwen3 with its per-head q/k norms), and the eos ids its ``generation_config.json`` stops at (TRL adds them to
the tokenizer's eos). What decides only compute is scaled down (``SCALE``): 2 layers of width 64, 2 heads
sharing 1 key/value head. The weights are random, so completions are noise that runs to the budget; what the
rehearsal checks is everything around them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from scripts.lib.models.qwen_tokenizers import VARIANTS, folder_for, variant_for_model
from scripts.lib.models.shapes import SHAPES, shape_for_model

SCALE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
             num_key_value_heads=1)
SCALED_HEAD_DIM = 32


def stand_in_config(model_name: str):
    """The scaled-down config of a hub model the recipes name (its shape in ``SHAPES``), or None."""
    from transformers import Qwen2Config, Qwen3Config

    shape = shape_for_model(model_name)
    if shape is None:
        return None
    real = dict(SHAPES[shape])
    family = real.pop("model_type", "qwen2")
    real.pop("head_dim", None)
    variant = VARIANTS[variant_for_model(model_name)]
    ids = dict(bos_token_id=151643, eos_token_id=list(variant.generation_eos), pad_token_id=151643)
    if family == "qwen3":
        return Qwen3Config(**{**real, **SCALE}, head_dim=SCALED_HEAD_DIM, **ids)
    return Qwen2Config(**{**real, **SCALE}, **ids)


def build_stand_in(model_name: str, out: str | Path, tokenizer_root: str | Path, seed: int = 0) -> Path:
    """A random stand-in of ``model_name`` with its family's real tokenizer, saved like a hub folder at ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    config = stand_in_config(model_name)
    if config is None:
        raise ValueError(f"no architecture known for {model_name} (scripts/lib/models/shapes.py)")
    variant = variant_for_model(model_name)
    tokenizer_dir = folder_for(variant, tokenizer_root)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    eos = list(VARIANTS[variant].generation_eos)
    model.generation_config = GenerationConfig(bos_token_id=151643, pad_token_id=151643,
                                               eos_token_id=eos if len(eos) > 1 else eos[0],
                                               **dict(VARIANTS[variant].sampling))
    model.save_pretrained(out)
    for item in tokenizer_dir.iterdir():
        if item.is_file() and item.name != "derived_from.txt":
            shutil.copyfile(item, out / item.name)
    return out
