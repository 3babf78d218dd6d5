"""The GPU recipes' models as random-weight stand-ins built offline, at their real size.

The architectures are ``scripts/lib/models/shapes.py`` (one home, shared with ``make rehearse``); this module
adds the CPU smoke shape (``tiny``) and builds the models with a byte-level BPE tokenizer trained here.

A random model rarely emits EOS (one id in 151,936), so its completions run to
``max_completion_length``: timings from these models are worst-case lengths.

>>> shape_for_model("Qwen/Qwen2.5-3B"), shape_for_model("./outputs/tiny-base/countdown")
('qwen2.5-3b', None)
"""

from __future__ import annotations

from pathlib import Path

from scripts.lib.models.shapes import SHAPES as REAL_SHAPES
from scripts.lib.models.shapes import shape_for_model

SHAPES = {
    **REAL_SHAPES,
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
    from transformers import AutoModelForCausalLM, Qwen2Config, Qwen3Config

    tokenizer = train_bpe_tokenizer(list(texts), TOKENIZER_VOCAB)
    torch.manual_seed(seed)
    eos = tokenizer.eos_token_id
    settings = dict(SHAPES[shape])
    config_class = Qwen3Config if settings.pop("model_type", "qwen2") == "qwen3" else Qwen2Config
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config_class(**settings, bos_token_id=eos, eos_token_id=eos,
                                                              pad_token_id=eos))
    if dtype is not None:
        model.to(dtype)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if chat:  # a file next to the tokenizer, as hub models ship it: tokenizer.json stays as trained
        (out / "chat_template.jinja").write_text(CHATML_TEMPLATE)
    return out
