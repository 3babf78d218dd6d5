"""A GGUF file -> a plain Hugging Face folder (safetensors, tokenizer, chat template).

transformers reads GGUF (with the ``gguf`` package) and de-quantizes it to float32, but refuses to
``save_pretrained`` a GGUF-loaded model ("quantized with gguf and is not serializable"). The way
round: a fresh model from the same config (quantization config removed), the state dict copied in
(every key must match), and that saved. The folder then loads with ``from_pretrained`` alone, no
``gguf`` needed, in a fraction of a second.

Everything is written into a temporary folder next to the destination and renamed into place
whole, so an interrupted conversion never leaves a half folder that looks finished.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from scripts.lib.recipe.cli import UserError

# Written last inside the folder: its presence means the conversion finished.
DONE_MARKER = "converted_from.txt"


class ConvertError(UserError):
    """The GGUF could not be converted (one line)."""


@dataclass
class Converted:
    folder: Path
    parameters: int
    seconds_load: float
    seconds_save: float


def is_converted(folder: str | Path) -> bool:
    return (Path(folder) / DONE_MARKER).is_file()


def gguf_to_folder(gguf_path: str | Path, out_dir: str | Path, source: str = "") -> Converted:
    """Convert one GGUF file into a plain HF folder at ``out_dir`` (model, tokenizer, chat template).

    ``out_dir`` must not exist yet; it appears only once complete.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    if not gguf_path.is_file():
        raise ConvertError(f"GGUF file not found: {gguf_path}")
    if out_dir.exists():
        raise ConvertError(f"{out_dir} already exists; remove it to convert again")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name,
                                                      dtype=torch.float32)
        config = AutoConfig.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    except Exception as err:  # noqa: BLE001 - gguf/transformers raise many types; the user needs one line
        raise ConvertError(f"could not read {gguf_path} as a GGUF model ({type(err).__name__}: "
                           f"{str(err).splitlines()[0][:160] if str(err) else ''})") from None
    seconds_load = time.perf_counter() - start
    for attribute in ("quantization_config",):
        if hasattr(config, attribute):
            delattr(config, attribute)
    config.dtype = torch.float32
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    state = loaded.state_dict()
    result = model.load_state_dict(state, strict=False)
    # Tied embeddings: lm_head.weight may be absent from one side; anything else is a real mismatch.
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    missing = set(result.missing_keys) - tied
    if missing or result.unexpected_keys:
        raise ConvertError(f"{gguf_path.name}: state dict does not match the config "
                           f"(missing {sorted(missing)[:3]}, unexpected {sorted(result.unexpected_keys)[:3]})")
    if tied:
        model.tie_weights()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / DONE_MARKER).write_text(f"{source or gguf_path.name}\n", encoding="utf-8")
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Converted(out_dir, sum(p.numel() for p in model.parameters()), seconds_load,
                     time.perf_counter() - start)
