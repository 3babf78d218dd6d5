"""The GPU recipes' models as shapes: random-weight stand-ins built offline, at their real size.

One home for the architectures of the Qwen2.5 checkpoints the recipes name, so the GPU check
(``scripts/bench/gpu_check.py``) and ``make bench-gpu`` build the same models without the hub. Values
are each checkpoint's ``config.json`` (huggingface.co/Qwen/<name>/resolve/main/config.json). Checked
here only for Qwen2.5-0.5B, whose config.json is quoted verbatim in public code (hidden 896, 24
layers, 14/2 heads, vocab 151,936, rope_theta 1e6, 32,768 positions); the others are as the kit's
maintainers copied them: where the hub is reachable, ``hf download Qwen/<name> config.json``
confirms them (hidden size, layers, heads and vocabulary decide memory and time; rope_theta and
positions only the rotary tables).

A random model rarely emits EOS (one id in 151,936), so its completions run to
``max_completion_length``: timings from these models are worst-case lengths.

>>> shape_for_model("Qwen/Qwen2.5-3B"), shape_for_model("./outputs/tiny-base/countdown")
('qwen2.5-3b', None)
>>> sorted(SHAPES["qwen2.5-math-1.5b"].items())[:3]
[('hidden_size', 1536), ('intermediate_size', 8960), ('max_position_embeddings', 4096)]
"""

from __future__ import annotations

from pathlib import Path

_QWEN = dict(vocab_size=151936, tie_word_embeddings=True, rms_norm_eps=1e-6, rope_theta=1_000_000.0,
             num_key_value_heads=2)
_Q05 = dict(_QWEN, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
            max_position_embeddings=32768)
_Q15 = dict(_QWEN, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12)

# Lower-cased hub repo name -> Qwen2Config keyword arguments.
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
    # CPU smoke runs (``--dry-run``, ``--tiny``): the same code path in seconds.
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=1, vocab_size=2048, max_position_embeddings=4096, tie_word_embeddings=True),
}

# A byte-level BPE (Qwen's kind of tokenizer), trained here. Ids above its size decode to
# nothing, as Qwen2.5's own padded vocabulary does (151,936 ids, ~151,665 tokens).
TOKENIZER_VOCAB = 2048
EOS = "<|endoftext|>"
TAGS = ["<think>", "</think>", "<answer>", "</answer>"]

# Qwen2.5's chat format (ChatML), for recipes whose prompts are chat messages (instruct models).
CHATML_TEMPLATE = ("{%- for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
                   "{%- endfor %}{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}")


def shape_for_model(name_or_path: str) -> str | None:
    """The shape of a hub id the recipes name (``Qwen/Qwen2.5-1.5B-Instruct``), or None."""
    key = name_or_path.rstrip("/").rsplit("/", 1)[-1].lower()
    return key if key in SHAPES else None


def train_bpe_tokenizer(texts, vocab_size: int):
    """A byte-level BPE tokenizer (Qwen's kind) with each tag a single, ordinary (not special) token.

    Tags must not be special tokens: TRL decodes completions with ``skip_special_tokens=True``.
    (The tiny CPU base has its own word-level tokenizer, ``scripts.lib.models.tiny_base.model.train_tokenizer``.)
    """
    import itertools

    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # GPT-2's split regex separates "-" from digits, which would make -12 and 12 share no token;
    # here a signed integer is one piece, so every value in a trace is one token.
    split = pre_tokenizers.Split(Regex(r" ?-?\d+| ?[A-Za-z]+| ?[^\sA-Za-z\d]+|\s+"), behavior="isolated")
    tok.pre_tokenizer = pre_tokenizers.Sequence([split, pre_tokenizers.ByteLevel(add_prefix_space=False,
                                                                                 use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    # Every integer the traces can contain, often enough to become one token each.
    numbers = [" ".join(str(i) for i in range(-100, 1000))] * 20
    tok.train_from_iterator(itertools.chain(texts, numbers), trainer)
    tok.add_tokens([AddedToken(t, lstrip=True, normalized=False, special=False) for t in TAGS])
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS, padding_side="left")


def build_random_model(shape: str, out: Path, texts=(), chat: bool = False, seed: int = 0, dtype=None,
                       device: str = "cpu") -> Path:
    """A random-weight Qwen2 of ``shape`` and a byte-level BPE tokenizer (trained on ``texts`` and
    integers), saved like a hub model folder; ``chat`` adds the ChatML template next to it.
    ``device="cuda"`` initialises a 3B model in seconds; ``dtype`` is what is saved (default float32)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = train_bpe_tokenizer(list(texts), TOKENIZER_VOCAB)
    torch.manual_seed(seed)
    eos = tokenizer.eos_token_id
    with torch.device(device):
        model = Qwen2ForCausalLM(Qwen2Config(**SHAPES[shape], bos_token_id=eos, eos_token_id=eos, pad_token_id=eos))
    if dtype is not None:
        model.to(dtype)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if chat:  # a file next to the tokenizer, as hub models ship it: tokenizer.json stays as trained
        (out / "chat_template.jinja").write_text(CHATML_TEMPLATE)
    return out
