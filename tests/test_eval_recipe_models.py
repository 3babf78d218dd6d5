"""`make eval RECIPE=...` without MODELS scores the recipe's own models, and says which."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.lib.evaluation.eval_problems import EvalError
from scripts.lib.evaluation.eval_settings import parse_args

ROOT = Path(__file__).resolve().parents[1]


def _recipe(tmp_path) -> Path:
    text = (ROOT / "recipes" / "smollm2-135m-instruct_arithmetic.yaml").read_text()
    out = tmp_path / "recipe.yaml"
    out.write_text(text.replace("output_dir: outputs/smollm2-135m-instruct_arithmetic",
                                f"output_dir: {tmp_path / 'run'}"))
    return out


def test_recipe_alone_gives_its_starting_model_then_its_trained_one(tmp_path, capsys):
    recipe = _recipe(tmp_path)
    assert parse_args(["--recipe", str(recipe)]).models == ["outputs/models/SmolLM2-135M-Instruct"]
    said = capsys.readouterr()
    assert "no MODELS given: evaluating" in said.out + said.err and "holds no trained model yet" in said.out + said.err

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "adapter_config.json").write_text("{}")  # a LoRA run saves its adapter there
    assert parse_args(["--recipe", str(recipe)]).models == ["outputs/models/SmolLM2-135M-Instruct",
                                                             str(tmp_path / "run")]
    said = capsys.readouterr()
    assert f"and its trained model {tmp_path / 'run'}" in said.out + said.err


def test_models_given_are_taken_as_they_are_and_none_at_all_is_an_error(tmp_path):
    assert parse_args(["--recipe", str(_recipe(tmp_path)), "--models", "a", "b"]).models == ["a", "b"]
    with pytest.raises(EvalError, match="no models given"):
        parse_args([])
