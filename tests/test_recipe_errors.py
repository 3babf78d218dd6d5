"""A recipe mistake costs one clear line and exit code 2, before anything loads."""

from __future__ import annotations

import pytest

from conftest import ROOT
from scripts.train import run

RECIPE = str(ROOT / "recipes" / "cpu_countdown_tiny.yaml")


def write(tmp_path, text: str) -> str:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return str(path)


CASES = [
    # (recipe text or None for "use the default recipe", extra flags, expected message fragment)
    ("learning_rat: 0.1\nbf16: false\n", [], "unknown recipe key `learning_rat` (did you mean `learning_rate`?)"),
    ("bf16: false\nlearning_rate: 1: 2\n", [], ":2: YAML syntax error"),
    (None, ["--num_generationz", "4"], "unknown flag `--num_generationz` (did you mean `num_generations`?)"),
    (None, ["--learning_rate", "-1"], "learning_rate must be positive"),
    (None, ["--reward_funcs", "format_reward", "acuracy"], "unknown reward `acuracy`"),
    (None, ["--reward_weights", "1.0"], "reward_weights has 1 values but reward_funcs has 2"),
    (None, ["--task", "chess"], "unknown task `chess`"),
    ("model_name_or_path: Qwen/Qwen2.5-0.5B\n", [], "this machine has no GPU"),
    ("model_name_or_path: x\nbf16: true\n", [], "bf16"),
    (None, ["--per_device_train_batch_size", "6", "--num_generations", "4"], "num_generations"),
]


@pytest.mark.parametrize("recipe,flags,message", CASES)
def test_bad_recipe_gives_one_line_and_exit_2(tmp_path, capsys, monkeypatch, recipe, flags, message):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    path = RECIPE if recipe is None else write(tmp_path, recipe)
    assert run(["--config", path, "--output_dir", str(tmp_path / "o"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_missing_recipe_file(capsys):
    assert run(["--config", "recipes/nope.yaml"]) == 2
    assert "recipe file not found: recipes/nope.yaml" in capsys.readouterr().err


def test_missing_model_path(tmp_path, capsys):
    code = run(["--config", RECIPE, "--tiny_base_recipe", "", "--model_name_or_path", str(tmp_path / "none"),
                "--output_dir", str(tmp_path / "o")])
    assert code == 2
    assert "model path not found" in capsys.readouterr().err


def test_debug_flag_shows_the_traceback(tmp_path):
    with pytest.raises(Exception, match="learning_rat"):
        run(["--config", write(tmp_path, "learning_rat: 0.1\n"), "--debug"])


@pytest.mark.parametrize("flags,wanted", [
    # A bare boolean flag means true (TRL's parser); the old hand-read of argv took the next flag as its value,
    # or missed a last one, and let a GPU-only setting through to a CUDA error mid-run.
    (["--use_vllm"], "use_vllm"),
    (["--use_vllm", "--max_steps", "3"], "use_vllm"),
    (["--bf16=true"], "bf16"),
])
def test_gpu_settings_are_checked_as_the_parser_reads_them(tmp_path, monkeypatch, flags, wanted):
    from scripts.lib.recipe.cli import RecipeError
    from scripts.lib.recipe.parsing import parse_recipe

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(RecipeError, match=f"no GPU, but the recipe asks for {wanted}:"):
        parse_recipe(["--config", RECIPE, "--output_dir", str(tmp_path / "o"), *flags])


def test_the_recipe_file_is_read_once(tmp_path, monkeypatch):
    import yaml

    from scripts.lib.recipe.parsing import parse_recipe

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    reads = []
    safe_load = yaml.safe_load
    monkeypatch.setattr(yaml, "safe_load", lambda stream: reads.append(1) or safe_load(stream))
    script_args, training_args, _ = parse_recipe(["--config", RECIPE, "--output_dir", str(tmp_path / "o"),
                                                  "--max_steps", "3"])
    assert len(reads) == 1
    assert training_args.max_steps == 3 and training_args.bf16 is False and script_args.task == "countdown"


def test_an_empty_recipe_file_is_one_line(tmp_path, capsys):
    assert run(["--config", write(tmp_path, "# nothing yet\n")]) == 2
    assert "a recipe must be a YAML mapping of `key: value` lines (this one is empty)" in capsys.readouterr().err
