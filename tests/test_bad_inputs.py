"""Feed it garbage: every bad input costs one line naming the problem and the fix, and exit code 2.

One table, one row per mistake a user makes (recipe, data, model, rewards, hardware, output
folder), each with the exact line printed. Data and rewards are checked before the model loads,
so these cost seconds whatever the model's size. ``tests/test_recipe_errors.py`` covers the
parser's details (closest-key hints for flags, `--debug`).
"""

from __future__ import annotations

import json

import pytest

from conftest import ROOT
from rewards import REWARDS
from scripts.train import run

RECIPE = str(ROOT / "recipes" / "cpu_countdown_tiny.yaml")
VALID_REWARDS = str(sorted(REWARDS))  # the registry, so a new reward does not break this table
GPU_FIX = ('run the CPU recipe (make train RECIPE=recipes/cpu_countdown_tiny.yaml) or override with '
           'ARGS="--bf16 false --use_vllm false"')


def files(tmp):
    """The garbage, written into ``tmp``: returns a dict of named paths."""
    (tmp / "empty.jsonl").write_text("")
    (tmp / "broken.jsonl").write_text('{"question": "q1", "answer": "x #### 3"}\n{"question": "q2", "answer": \n')
    (tmp / "list.jsonl").write_text('{"question": "q1", "answer": "x #### 3"}\n[1, 2]\n')
    (tmp / "no_gold.jsonl").write_text('{"question": "q1", "answer": "x #### 3"}\n{"question": "q2", "answer": "7"}\n')
    (tmp / "all_no_gold.jsonl").write_text('{"question": "q1", "answer": "7"}\n{"question": "q2", "answer": ""}\n')
    (tmp / "syntax.yaml").write_text("bf16: false\nlearning_rate: 1: 2\n")
    (tmp / "typo.yaml").write_text("learning_rat: 0.1\nbf16: false\n")
    (tmp / "gpu.yaml").write_text("model_name_or_path: Qwen/Qwen2.5-0.5B\nuse_vllm: true\nbf16: false\n")
    (tmp / "used" / "runs").mkdir(parents=True)
    (tmp / "finished").mkdir()
    (tmp / "finished" / "model.safetensors").write_bytes(b"")
    (tmp / "half" / "checkpoint-3").mkdir(parents=True)
    return {name: str(tmp / name) for name in ("empty.jsonl", "broken.jsonl", "list.jsonl", "no_gold.jsonl",
                                               "all_no_gold.jsonl", "syntax.yaml", "typo.yaml", "gpu.yaml", "used",
                                               "finished", "half")}


GSM8K = ["--task", "gsm8k", "--reward_funcs", "format_reward", "gsm8k_accuracy_reward", "--dataset_name"]

CASES = [
    # (what is wrong, command line with {placeholders}, the exact line on stderr)
    ("recipe file missing", ["--config", "recipes/nope.yaml"],
     "recipe file not found: recipes/nope.yaml (recipes live in recipes/, e.g. recipes/cpu_countdown_tiny.yaml)"),
    ("YAML syntax error: names the line", ["--config", "{syntax.yaml}"],
     "{syntax.yaml}:2: YAML syntax error: mapping values are not allowed here"),
    ("unknown key: names the closest valid one", ["--config", "{typo.yaml}"],
     "{typo.yaml}: unknown recipe key `learning_rat` (did you mean `learning_rate`?)"),
    ("negative learning rate", ["--learning_rate", "-1"], "learning_rate must be positive, got -1.0"),
    ("cosine_max_len 0: names that setting alone",
     ["--reward_funcs", "format_reward", "cosine_scaled_accuracy_reward", "--cosine_max_len", "0"],
     "cosine_max_len must be positive, got 0"),
    ("repetition_n_grams 0: names that setting alone",
     ["--reward_funcs", "format_reward", "repetition_penalty_reward", "--repetition_n_grams", "0"],
     "repetition_n_grams must be at least 1, got 0"),
    ("num_generations does not divide the generation batch",
     ["--per_device_train_batch_size", "6", "--num_generations", "4"],
     "generation_batch_size (6) must be divisible by num_generations (4): make per_device_train_batch_size x "
     "processes x steps_per_generation (default: gradient_accumulation_steps) a multiple of num_generations"),
    ("unknown reward name: lists the valid ones", ["--reward_funcs", "format_reward", "acuracy"],
     f"unknown reward `acuracy`: valid rewards are {VALID_REWARDS}"),
    ("reward import path that does not import", ["--reward_funcs", "format_reward", "my_pkg.nope_reward"],
     f"unknown reward 'my_pkg.nope_reward': use one of {VALID_REWARDS} or a dotted import path to your function"),
    ("dataset file missing", [*GSM8K, "{tmp}/nope.jsonl"], "dataset file not found: {tmp}/nope.jsonl"),
    ("dataset file empty", [*GSM8K, "{empty.jsonl}"], "dataset file is empty: {empty.jsonl}"),
    ("malformed jsonl line: names file:line", [*GSM8K, "{broken.jsonl}"],
     "{broken.jsonl}:2: not valid JSON (Expecting value); fix or delete that line"),
    ("jsonl line that is not an object", [*GSM8K, "{list.jsonl}"],
     "{list.jsonl}:2: expected a JSON object per line, got list"),
    ("GSM8K row without `####`, on_bad_row: fail", [*GSM8K, "{no_gold.jsonl}", "--on_bad_row", "fail"],
     "{no_gold.jsonl}: row 2 has no question or no '#### <answer>' line"),
    ("GSM8K rows without `####`, skipped, none left", [*GSM8K, "{all_no_gold.jsonl}"],
     "{all_no_gold.jsonl}: no usable rows (2 skipped: no question or no gold answer)"),
    ("model path missing", ["--model_name_or_path", "{tmp}/no_model"],
     "model path not found: {tmp}/no_model (a local folder with config.json, or a hub id like Qwen/Qwen2.5-0.5B)"),
    ("bf16 on a machine without a GPU", ["--bf16", "true"],
     f"this machine has no GPU, but the recipe asks for bf16: {GPU_FIX}"),
    ("vLLM on a machine without a GPU", ["--config", "{gpu.yaml}"],
     f"this machine has no GPU, but the recipe asks for use_vllm: {GPU_FIX}"),
    ("resume: never into a used output_dir", ["--output_dir", "{used}", "--resume", "never"],
     "output_dir {used} is not empty and resume is `never`: choose a new output_dir, delete {used}, or set "
     "resume: auto to continue from its last complete checkpoint"),
    ("resume: auto over a finished run with no checkpoint", ["--output_dir", "{finished}"],
     "output_dir {finished} holds a finished model (model.safetensors) and no complete checkpoint to resume "
     "from: choose a new output_dir or delete the old run, so it is not overwritten"),
    ("resume from a path that does not exist", ["--resume", "{tmp}/checkpoint-7"],
     "resume: checkpoint {tmp}/checkpoint-7 not found (use auto, never, or a checkpoint-N folder)"),
    ("resume from a half-written checkpoint", ["--resume", "{half}/checkpoint-3"],
     "resume: {half}/checkpoint-3 is not a complete checkpoint (no trainer_state.json: its save did not finish); "
     "pick an earlier checkpoint-N"),
    ("resume and resume_from_checkpoint disagree", ["--resume", "never", "--resume_from_checkpoint", "{tmp}/c"],
     "resume is `never` but resume_from_checkpoint is `{tmp}/c`: set only `resume`"),
]


def fill(text: str, paths: dict) -> str:
    for name, path in paths.items():
        text = text.replace("{" + name + "}", path)
    return text


@pytest.fixture()
def cpu_only(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)


@pytest.mark.parametrize("case,argv,message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_its_line_and_exit_2(tmp_path, capsys, cpu_only, case, argv, message):
    paths = {**files(tmp_path), "tmp": str(tmp_path)}
    argv = [fill(a, paths) for a in argv]
    # The rest of the command. Its model path does not exist, so a mistake that went unnoticed
    # would end at the model with a different line, and this test would say so.
    rest = ["--tiny_base_recipe", "", "--model_name_or_path", str(tmp_path / "no_model"),
            "--output_dir", str(tmp_path / "out"), "--holdout_size", "0", "--max_train_samples", "64"]
    command = [*argv, *rest] if argv[0] == "--config" else ["--config", RECIPE, *rest, *argv]
    assert run(command) == 2
    err = capsys.readouterr().err
    assert err == f"error: {fill(message, paths)}\n"


def test_skipped_gsm8k_rows_are_counted_never_kept_with_a_zero_reward(tmp_path, capsys, cpu_only):
    paths = files(tmp_path)
    # Stops at the (missing) model, after the data step has reported what it skipped.
    code = run(["--config", RECIPE, "--tiny_base_recipe", "", "--model_name_or_path", str(tmp_path / "no_model"),
                "--output_dir", str(tmp_path / "out"), *GSM8K, paths["no_gold.jsonl"], "--holdout_size", "0"])
    assert code == 2
    out = capsys.readouterr().out
    assert "data: skipped 1 rows with no usable gold answer (on_bad_row: skip)\n" in out
    assert "data: 1 training prompts, 0 held-out\n" in out


def test_trust_remote_code_is_off_unless_the_recipe_sets_it(tmp_path, cpu_only, tiny_model_dir):
    """A model folder that ships Python code: loading it must not run that code."""
    import shutil

    from scripts.lib.recipe.parsing import parse_recipe
    from scripts.lib.models.loading import load_model_and_tokenizer

    model_dir = tmp_path / "model_with_code"
    shutil.copytree(tiny_model_dir, model_dir)
    marker = tmp_path / "code_ran"
    (model_dir / "custom.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "from transformers import Qwen2Config as CustomConfig, Qwen2ForCausalLM as CustomModel\n"
    )
    config = json.loads((model_dir / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "custom.CustomConfig", "AutoModelForCausalLM": "custom.CustomModel"}
    (model_dir / "config.json").write_text(json.dumps(config))

    _, training_args, model_args = parse_recipe(["--config", RECIPE, "--model_name_or_path", str(model_dir)])
    assert training_args.trust_remote_code is False
    model, _ = load_model_and_tokenizer(model_args, training_args)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert not marker.exists(), "the model folder's code was executed"
    _, opted_in, _ = parse_recipe(["--config", RECIPE, "--model_name_or_path", str(model_dir),
                                   "--trust_remote_code", "true"])
    assert opted_in.trust_remote_code is True
