"""The tiny base's word-level tokenizer and its untrained Qwen2 model."""

from __future__ import annotations

from scripts.lib.models.tiny_base.config import TinyBaseConfig

TAGS = ["<think>", "</think>", "<answer>", "</answer>"]
EOS = "<|endoftext|>"
UNK = "[UNK]"


def train_tokenizer(texts, number_range=(-100, 999)):
    """A word-level tokenizer: split on whitespace, one token per word of ``texts`` and per integer in range.

    Every value a trace computes is one token, so ``3 * 6 = 18`` is four tokens the model can learn
    as a table; a byte-level BPE splits numbers into pieces and makes the arithmetic much harder
    for a 1 M-parameter model. Words not seen in the corpus map to ``[UNK]``. Tags are ordinary
    (not special) tokens: TRL decodes completions with ``skip_special_tokens=True``.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    lo, hi = number_range
    numbers = [str(i) for i in range(lo, hi + 1)]
    words = set()
    for text in texts:
        words.update(text.split())
    words -= set(numbers) | set(TAGS) | {EOS, UNK}
    vocab = {w: i for i, w in enumerate([EOS, UNK, *TAGS, *numbers, *sorted(words)])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS, unk_token=UNK,
                                   padding_side="left")


def make_model(cfg: TinyBaseConfig, tokenizer):
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(cfg.seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_attention_heads, max_position_embeddings=cfg.max_position_embeddings,
        tie_word_embeddings=True, bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    # Sampling like TRL samples (transformers' generate defaults to top_k=50).
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=True,
        temperature=1.0, top_k=0, top_p=1.0,
    )
    return model

