"""`make recipes-check`: every recipe beside its source, failing on a difference no one explained."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT
from scripts import recipes_check
from scripts.lib.recipe.sources import SETTINGS, load_sidecar, recipe_values


def test_the_kits_recipes_have_no_unexplained_difference(capsys):
    assert recipes_check.main([]) == 0
    out = capsys.readouterr().out
    recipes = sorted(p.name for p in (ROOT / "recipes").glob("*.yaml") )
    for name in recipes:
        assert f"## {name}" in out, f"{name} has no table"
    assert f"{len(recipes)} recipes checked against their sources" in out
    # the Oat-Zero run carries its template, the R1-template run its own, each beside the source's
    assert "| template | qwen_math | qwen_math | same |" in out and "| template | oat_r1 | oat_r1 | same |" in out


def test_every_setting_a_recipe_lists_is_one_the_check_computes():
    for name, entry in load_sidecar(str(ROOT / "recipes" / "sources" / "sources.yaml")).items():
        assert set(entry.get("settings") or {}) <= set(SETTINGS), name


@pytest.fixture()
def recipes_dir(tmp_path):
    """A recipes folder holding one real recipe and a sidecar that matches it on every setting."""
    shutil.copy(ROOT / "recipes" / "qwen2.5-math-1.5b_math_zero.yaml", tmp_path / "r.yaml")
    values = recipe_values(str(tmp_path / "r.yaml"))
    sidecar = {"r.yaml": {"source": "a test", "settings": {k: {"source": values[k]} for k in ("lr", "kl", "max_tokens")}}}
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "sources.yaml").write_text(yaml.safe_dump(sidecar))
    return tmp_path


def write_sources(folder, settings):
    (folder / "sources" / "sources.yaml").write_text(yaml.safe_dump({"r.yaml": {"source": "a test", "settings": settings}}, sort_keys=False))


def test_a_matching_sidecar_passes(recipes_dir, capsys):
    assert recipes_check.main(["--recipes_dir", str(recipes_dir)]) == 0
    assert "| lr | 1e-06 | 1e-06 | same |" in capsys.readouterr().out


def test_each_unexplained_difference_is_one_line_and_exit_1(recipes_dir, capsys):
    write_sources(recipes_dir, {"lr": {"source": 1e-5}, "kl": {"source": 0.04}, "max_tokens": {"source": 3000},
                                "temperature": {"source": "not stated in source"}})
    assert recipes_check.main(["--recipes_dir", str(recipes_dir)]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert lines[0] == "2 unexplained difference(s):"
    assert lines[1].startswith("r.yaml: lr is 1e-06, the source says 1e-05") and lines[2].startswith("r.yaml: kl is 0")
    assert "| lr | 1e-05 | 1e-06 | DIFFERS, no reason given |" in captured.out
    assert "| temperature | not stated in source | 1 | - |" in captured.out  # shown, never compared


@pytest.mark.parametrize("lines, shown", [
    ("importance_sampling_level: sequence\n", "GSPO"),
    ("loss_type: cispo\n", "CISPO"),
    ("delta: 4.0\n", "GRPO (two-sided clip, delta 4)"),
])
def test_the_algorithm_row_is_read_from_the_recipe(recipes_dir, capsys, lines, shown):
    """A recipe that switches TRL's objective no longer matches a source that says GRPO (was hard-coded)."""
    write_sources(recipes_dir, {"algorithm": {"source": "GRPO"}})
    assert recipes_check.main(["--recipes_dir", str(recipes_dir)]) == 0
    with (recipes_dir / "r.yaml").open("a") as recipe:
        recipe.write(lines)
    capsys.readouterr()
    assert recipes_check.main(["--recipes_dir", str(recipes_dir)]) == 1
    assert f"| algorithm | GRPO | {shown} | DIFFERS, no reason given |" in capsys.readouterr().out


def test_a_difference_marked_deliberate_passes_and_prints_its_reason(recipes_dir, capsys):
    write_sources(recipes_dir, {"lr": {"source": 1e-5, "deliberate": "a smaller model"}})
    assert recipes_check.main(["--recipes_dir", str(recipes_dir)]) == 0
    assert "| lr | 1e-05 | 1e-06 | deliberate: a smaller model |" in capsys.readouterr().out


def test_a_stale_deliberate_mark_and_a_recipe_without_entry_fail(recipes_dir, capsys):
    write_sources(recipes_dir, {"lr": {"source": 1e-6, "deliberate": "was different once"}})
    shutil.copy(recipes_dir / "r.yaml", recipes_dir / "new.yaml")
    assert recipes_check.main(["--recipes_dir", str(recipes_dir)]) == 1
    err = capsys.readouterr().err
    assert "r.yaml: lr is marked deliberate but matches its source" in err
    assert "new.yaml: no entry in" in err


@pytest.mark.parametrize("sidecar, message", [
    ({"r.yaml": {"source": "x", "settings": {"learning_rate": {"source": 1}}}}, "unknown setting `learning_rate`"),
    ({"gone.yaml": {"source": "x"}}, "`gone.yaml` is not a recipe"),
    ({"r.yaml": {"settings": {}}}, "needs a `source:` line"),
    ({"r.yaml": {"source": "x", "settings": {"lr": 1e-6}}}, "`lr` needs `source: <value>`"),
])
def test_a_broken_sidecar_is_one_error_line_and_exit_2(recipes_dir, sidecar, message):
    (recipes_dir / "sources" / "sources.yaml").write_text(yaml.safe_dump(sidecar))
    done = subprocess.run([sys.executable, "-m", "scripts.recipes_check", "--recipes_dir", str(recipes_dir)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_make_recipes_check_runs_the_entry_point():
    line = subprocess.run(["make", "-n", "recipes-check"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "-m scripts.recipes_check" in line
