"""Models and tokenizers, loaded one way by training, evaluation, the checks and export.

``is_local`` (``data/loading.py``) decides hub id vs folder for every command; ``load_tokenizer``
loads a tokenizer the way it was saved:

transformers 5 forces its own ``Qwen2Tokenizer`` on every folder whose ``config.json`` says
``model_type: qwen2``, rebuilding the tokenizer from vocab and merges with Qwen's digit-splitting
pre-tokenizer and ignoring the one in ``tokenizer.json``. For real Qwen checkpoints that is right.
For a tokenizer trained here (the tiny CPU model's, saved with ``tokenizer_class: TokenizersBackend``)
it silently changes how every number is tokenized, so the model reads prompts it never saw. Every
command loads tokenizers through ``load_tokenizer``.

Nothing here builds a model: a recipe's tiny base is built before it is loaded, by the entry point
(``scripts/lib/models/tiny_base/build.py``), so loading never imports the pretraining code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from data.loading import is_local
from scripts.lib.recipe.cli import UserError, first_line


def _tokenizer_config_file(name_or_path: str, revision: str | None = None) -> Path | None:
    """The tokenizer_config.json of a folder, or of a hub id's copy in the local cache (no network)."""
    config = Path(name_or_path).expanduser() / "tokenizer_config.json"
    if config.is_file() or is_local(name_or_path):
        return config if config.is_file() else None
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(name_or_path, "tokenizer_config.json", revision=revision)
    except ValueError:  # not a valid repo id
        return None
    return Path(found) if isinstance(found, str) else None


def tokenizer_json_is_authoritative(name_or_path: str, revision: str | None = None) -> bool:
    # A hub id counts too: a kit-trained model pushed to the hub (or copied into its cache) must not come back
    # with a rebuilt tokenizer that has lost its tags (make rehearse's decode check found it on a cached one).
    config = _tokenizer_config_file(name_or_path, revision)
    if config is None:
        return False
    try:
        return json.loads(config.read_text()).get("tokenizer_class") in ("TokenizersBackend", "PreTrainedTokenizerFast")
    except (OSError, json.JSONDecodeError):
        return False


def load_tokenizer(name_or_path: str, **kwargs):
    """``AutoTokenizer.from_pretrained``, except that a tokenizer whose tokenizer_config.json names
    TokenizersBackend or PreTrainedTokenizerFast (a folder, or the hub cache's copy) is loaded from its
    tokenizer.json as is."""
    from transformers import AutoTokenizer, TokenizersBackend

    if tokenizer_json_is_authoritative(name_or_path, kwargs.get("revision")):
        kwargs.pop("trust_remote_code", None)
        return TokenizersBackend.from_pretrained(name_or_path, **kwargs)
    return AutoTokenizer.from_pretrained(name_or_path, **kwargs)


class ModelError(UserError):
    """A model folder or hub id that cannot be loaded, in one line."""


def check_model_path(name: str, hint: str = "a local folder with config.json, or a hub id like Qwen/Qwen2.5-0.5B") -> None:
    """A name that is a path must be a folder: one line now rather than a hub lookup of a typo."""
    if is_local(name) and not Path(name).expanduser().is_dir():
        raise ModelError(f"model path not found: {name} ({hint})")


def torch_dtype(dtype):
    """A recipe's ``dtype`` (None, ``auto``, ``bfloat16`` …) as ``from_pretrained`` takes it."""
    import torch

    return getattr(torch, dtype) if isinstance(dtype, str) and dtype != "auto" else "auto"


def _with_pad_token(tokenizer):
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model_and_tokenizer(model_args, training_args):
    """The recipe's policy and tokenizer, as training and ``make preflight --samples`` load them."""
    from transformers import AutoModelForCausalLM

    name = model_args.model_name_or_path
    check_model_path(name)
    options = {"revision": model_args.model_revision, "trust_remote_code": training_args.trust_remote_code}
    try:
        tokenizer = load_tokenizer(name, **options)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=torch_dtype(model_args.dtype),
                                                     attn_implementation=model_args.attn_implementation, **options)
    except OSError as err:
        raise ModelError(
            f"could not load model {name!r} ({first_line(err)}). If the hub is unreachable, run "
            "`make download RECIPE=...` where it is, or set model_name_or_path to a local folder"
        ) from None
    return model, _with_pad_token(tokenizer)


def load_config_and_tokenizer(model_args, training_args):
    """The recipe's model config (no weights) and tokenizer: what the checks need without sampling."""
    from transformers import AutoConfig

    name = model_args.model_name_or_path
    check_model_path(name, "a tiny base is built by `make train` or `python -m scripts.build_tiny_base --config RECIPE`")
    options = {"revision": model_args.model_revision, "trust_remote_code": training_args.trust_remote_code}
    try:
        return AutoConfig.from_pretrained(name, **options), _with_pad_token(load_tokenizer(name, **options))
    except OSError as err:
        raise ModelError(f"could not load model {name!r} ({first_line(err)}); set model_name_or_path to a local "
                         "folder if the hub is unreachable") from None


# --------------------------------------------------------------------------- any trained model


def model_kind(name: str) -> str:
    """``adapter``, ``checkpoint``, ``folder`` or ``hub``; ModelError for a path that is none of them."""
    path = Path(name).expanduser()
    if path.is_dir():
        if (path / "adapter_config.json").is_file():
            return "adapter"
        if (path / "config.json").is_file():
            return "checkpoint" if (path / "trainer_state.json").is_file() else "folder"
        raise ModelError(f"{name} has no config.json or adapter_config.json: give a checkpoint-N dir, an exported "
                         "model folder, a LoRA adapter dir or a hub id")
    if path.exists():
        raise ModelError(f"{name} is a file: give the model's folder")
    if is_local(name):
        raise ModelError(f"model folder not found: {name}")
    return "hub"


def weights_source(name: str, kind: str) -> str:
    """Where the weights come from: the folder or hub id itself, or an adapter's base model."""
    if kind != "adapter":
        return name
    from peft import PeftConfig

    return PeftConfig.from_pretrained(name).base_model_name_or_path


def load_model_tokenizer(name: str, kind: str):
    """The model's tokenizer: its own folder's, else the run folder's (checkpoint) or the base's (adapter)."""
    source = name
    if kind in ("adapter", "checkpoint") and not (Path(name) / "tokenizer_config.json").is_file():
        source = weights_source(name, kind) if kind == "adapter" else str(Path(name).parent)
    try:
        return _with_pad_token(load_tokenizer(source))
    except OSError as err:
        raise ModelError(_load_error(name, source, err)) from None


def load_trained(name: str, kind: str | None = None, dtype: str = "auto"):
    """(model, tokenizer) of a checkpoint, exported folder, hub id or LoRA adapter (merged into its base)."""
    from transformers import AutoModelForCausalLM

    kind = kind or model_kind(name)
    source = weights_source(name, kind)
    tokenizer = load_model_tokenizer(name, kind)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype(dtype))
    except OSError as err:
        raise ModelError(_load_error(name, source, err)) from None
    if kind == "adapter":
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, name).merge_and_unload()
    return model, tokenizer


def _load_error(name: str, source: str, err: Exception) -> str:
    what = f"model {name!r}" if source == name else f"base model {source!r} of adapter {name!r}"
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return (f"{what}: no local folder by that name, and not in the Hugging Face cache (offline mode, "
                f"HF_HUB_OFFLINE=1). Download it where the hub is reachable (hf download {source}) or pass a "
                "local folder")
    return f"could not load {what} ({first_line(err, 160)}): check the path or hub id"
