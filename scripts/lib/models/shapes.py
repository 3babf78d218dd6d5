"""The GPU recipes' models as shapes: the architecture of each checkpoint the recipes name, without the hub.

One home for them: ``make bench-gpu`` and the GPU check build random models at their real size
(``scripts/bench/model_shapes.py``), ``make rehearse`` builds them scaled down (``stand_in.py``). Values are
each checkpoint's ``config.json`` (huggingface.co/Qwen/<name>/resolve/main/config.json). Checked here only for
Qwen2.5-0.5B, whose config.json is quoted verbatim in public code (hidden 896, 24 layers, 14/2 heads, vocab
151,936, rope_theta 1e6, 32,768 positions), and for Qwen3-4B's (a public copy of its config.json: Qwen3 has
head_dim 128 and q/k norms, vocab 151,936, tied embeddings at this size); the others are as the kit's
maintainers copied them: where the hub is reachable, ``hf download Qwen/<name> config.json`` confirms them.

>>> shape_for_model("Qwen/Qwen2.5-3B"), shape_for_model("./outputs/tiny-base/countdown")
('qwen2.5-3b', None)
>>> sorted(SHAPES["qwen2.5-math-1.5b"].items())[:3]
[('hidden_size', 1536), ('intermediate_size', 8960), ('max_position_embeddings', 4096)]
"""

from __future__ import annotations

_QWEN = dict(vocab_size=151936, tie_word_embeddings=True, rms_norm_eps=1e-6, rope_theta=1_000_000.0,
             num_key_value_heads=2)
_Q05 = dict(_QWEN, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
            max_position_embeddings=32768)
_Q15 = dict(_QWEN, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12)

# Lower-cased hub repo name -> config keyword arguments (Qwen2Config unless model_type says qwen3).
SHAPES = {
    "qwen2.5-0.5b": _Q05,
    "qwen2.5-0.5b-instruct": _Q05,
    "qwen2.5-1.5b": dict(_Q15, max_position_embeddings=131072),
    "qwen2.5-1.5b-instruct": dict(_Q15, max_position_embeddings=32768),
    "qwen2.5-3b": dict(_QWEN, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
                       num_attention_heads=16, max_position_embeddings=32768),
    "qwen2.5-math-1.5b": dict(_Q15, rope_theta=10_000.0, max_position_embeddings=4096),
    # Qwen2.5-7B's architecture (untied embeddings, 4 KV heads) with Qwen2.5-Math's 4k context; written
    # from the Qwen2.5 model cards' numbers, not read from the hub here (no network).
    "qwen2.5-math-7b": dict(_QWEN, vocab_size=152064, tie_word_embeddings=False, num_key_value_heads=4,
                            hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                            rope_theta=10_000.0, max_position_embeddings=4096),
    # Qwen3-1.7B-Base (Qwen3 technical report's table: 28 layers, 16 query / 8 key-value heads, tied
    # embeddings, 32k context); hidden 2048, intermediate 6144, head_dim 128 from the model card, not read here.
    "qwen3-1.7b-base": dict(_QWEN, model_type="qwen3", hidden_size=2048, intermediate_size=6144, num_hidden_layers=28,
                            num_attention_heads=16, num_key_value_heads=8, head_dim=128,
                            max_position_embeddings=32768),
}


def shape_for_model(name_or_path: str) -> str | None:
    """The shape of a hub id the recipes name (``Qwen/Qwen2.5-1.5B-Instruct``), or None."""
    key = name_or_path.rstrip("/").rsplit("/", 1)[-1].lower()
    return key if key in SHAPES else None
