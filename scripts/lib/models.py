"""Load a tokenizer the way it was saved.

transformers 5 forces its own ``Qwen2Tokenizer`` on every folder whose ``config.json`` says
``model_type: qwen2``, rebuilding the tokenizer from vocab and merges with Qwen's digit-splitting
pre-tokenizer and ignoring the one in ``tokenizer.json``. For real Qwen checkpoints that is right.
For a tokenizer trained here (the tiny CPU model's, saved with ``tokenizer_class: TokenizersBackend``)
it silently changes how every number is tokenized, so the model reads prompts it never saw. Every
script loads tokenizers through ``load_tokenizer``.
"""

from __future__ import annotations

import json
from pathlib import Path


def tokenizer_json_is_authoritative(name_or_path: str) -> bool:
    config = Path(name_or_path).expanduser() / "tokenizer_config.json"
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text()).get("tokenizer_class") in ("TokenizersBackend", "PreTrainedTokenizerFast")
    except (OSError, json.JSONDecodeError):
        return False


def load_tokenizer(name_or_path: str, **kwargs):
    """``AutoTokenizer.from_pretrained``, except that a local tokenizer.json saved by this kit is used as is."""
    from transformers import AutoTokenizer, TokenizersBackend

    if tokenizer_json_is_authoritative(name_or_path):
        kwargs.pop("trust_remote_code", None)
        return TokenizersBackend.from_pretrained(name_or_path, **kwargs)
    return AutoTokenizer.from_pretrained(name_or_path, **kwargs)
