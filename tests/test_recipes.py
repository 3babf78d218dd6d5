"""Every recipe in recipes/ parses with the parser `make train` uses and trains on CPU, so none can rot.

GPU recipes run here with the tiny local model in place of the Qwen model and the GPU-only
options overridden (bf16, vLLM, activation checkpointing); everything else (rewards, prompt
template, loss, KL, LoRA, schedule) is the recipe's own. Runs are in-process: one Python start-up
for all recipes keeps the file fast on 2 cores.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURES, ROOT
from scripts.lib.recipe.parsing import parse_recipe
from scripts.train import run

RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
ACCELERATE_CONFIGS = sorted((ROOT / "recipes" / "accelerate").glob("*.yaml"))


def recipe_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def is_gpu_recipe(path: Path) -> bool:
    data = recipe_yaml(path)
    return data.get("bf16") is True or data.get("use_vllm") is True


GPU_RECIPES = [r for r in RECIPES if is_gpu_recipe(r)]
CPU_OVERRIDES = ["--bf16", "false", "--use_vllm", "false", "--use_cpu", "true", "--activation_checkpointing", "false"]


def test_the_recipe_set_is_the_one_the_readme_documents():
    names = {r.name for r in RECIPES}
    assert {"cpu_countdown_tiny.yaml", "qwen2.5-0.5b-instruct_gsm8k.yaml", "qwen2.5-1.5b-instruct_gsm8k.yaml",
            "qwen2.5-3b_countdown.yaml", "qwen2.5-3b_countdown_lora.yaml",
            "qwen2.5-math-1.5b_gsm8k_r1zero.yaml"} <= names
    readme = (ROOT / "README.md").read_text()
    for name in names:
        assert f"recipes/{name}" in readme, f"{name} is not in README's recipe table"


def test_every_recipe_has_a_row_in_the_recipes_readme_saying_what_it_reproduces():
    """recipes/README.md's table: one row per recipe file (tiny_base/ and accelerate/ are not recipes)."""
    rows = {}
    for line in (ROOT / "recipes" / "README.md").read_text().splitlines():
        match = re.match(r"\| `([^`/]+\.yaml)` \| ([^|]+) \|", line)
        if match:
            rows[match.group(1)] = match.group(2).strip()
    for recipe in RECIPES:
        assert recipe.name in rows, f"{recipe.name} has no row in recipes/README.md"
        assert len(rows[recipe.name]) > 10, f"{recipe.name}: its row does not say what it reproduces"


# Keys whose YAML value must arrive unchanged in the parsed (R1ZeroArguments, GRPOConfig, ModelConfig).
CHECKED_KEYS = ["model_name_or_path", "task", "dataset_name", "prompt_template", "learning_rate", "beta",
                "num_generations", "per_device_train_batch_size", "gradient_accumulation_steps",
                "max_completion_length", "temperature", "reward_weights", "save_steps", "loss_type",
                "use_peft", "lora_r", "lora_alpha"]


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_every_recipe_parses_with_the_training_parser(recipe, tmp_path):
    parsed = parse_recipe(["--config", str(recipe), "--output_dir", str(tmp_path), *CPU_OVERRIDES])
    data = recipe_yaml(recipe)
    for key in CHECKED_KEYS:
        if key in data:
            value = next(getattr(obj, key) for obj in parsed if hasattr(obj, key))
            assert value == data[key], f"{recipe.name}: {key} is {value!r}, the YAML says {data[key]!r}"
    header = recipe.read_text().split("\n\n")[0]
    assert header.startswith("#") and len(header.splitlines()) >= 5, f"{recipe.name}: header comment too thin"


@pytest.mark.parametrize("recipe", GPU_RECIPES, ids=lambda p: p.name)
def test_gpu_recipe_without_a_gpu_stops_with_one_line(recipe, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert run(["--config", str(recipe), "--output_dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "this machine has no GPU" in err and 'ARGS="--bf16 false --use_vllm false"' in err


def tiny_run_args(recipe: Path, model_dir: Path, out: Path) -> list[str]:
    """The recipe on CPU in seconds: tiny model, one step, 2 prompts x 2 completions of 8 tokens."""
    task = recipe_yaml(recipe).get("task", "countdown")
    # GSM8K and MATH read local fixtures; Countdown without dataset_name generates problems.
    dataset = {"gsm8k": str(FIXTURES / "gsm8k_tiny.jsonl"), "math": str(FIXTURES / "math_small.jsonl")}.get(task, "")
    # The tiny model has 2 layers: LoRA restricted to a real model's top layers moves to its top one.
    layers = ["--lora_layers_to_transform", "1"] if "lora_layers_to_transform" in recipe_yaml(recipe) else []
    return [*layers, "--config", str(recipe), "--model_name_or_path", str(model_dir), "--tiny_base_recipe", "",
            "--output_dir", str(out), *CPU_OVERRIDES, "--dtype", "float32",
            "--max_steps", "1", "--save_steps", "1", "--logging_steps", "1",
            "--per_device_train_batch_size", "4", "--num_generations", "2", "--gradient_accumulation_steps", "1",
            "--steps_per_generation", "1",
            "--max_completion_length", "8", "--holdout_size", "0", "--max_train_samples", "16",
            "--dataset_name", dataset, "--dataset_train_split", "train", "--disable_tqdm", "true"]


@pytest.fixture()
def one_thread():
    """Tiny matrices on a shared 2-core machine run faster single-threaded (no spin-waiting)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_every_recipe_trains_a_step_on_cpu(recipe, tiny_chat_model_dir, tmp_path, one_thread):
    out = tmp_path / "run"
    assert run(tiny_run_args(recipe, tiny_chat_model_dir, out)) == 0

    state = json.loads((out / "checkpoint-1" / "trainer_state.json").read_text())
    assert state["global_step"] == 1
    logged = state["log_history"][0]
    data = recipe_yaml(recipe)
    for name in data["reward_funcs"]:
        assert f"rewards/{name}/mean" in logged, f"{recipe.name}: reward {name} was not computed"
    if data.get("use_peft"):
        adapter = json.loads((out / "adapter_config.json").read_text())
        assert (adapter["r"], adapter["lora_alpha"]) == (data["lora_r"], data["lora_alpha"])
        assert not (out / "model.safetensors").exists(), "a LoRA run saves the adapter, not the whole model"
    else:
        assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()


@pytest.mark.parametrize("config", ACCELERATE_CONFIGS, ids=lambda p: p.name)
def test_accelerate_configs_load_and_launch_through_make(config):
    from accelerate.commands.config.config_args import load_config_from_file

    loaded = load_config_from_file(str(config))
    assert loaded.mixed_precision == "bf16" and loaded.num_processes >= 1
    line = subprocess.run(["make", "-n", "train", f"ACCELERATE_CONFIG={config}", "NPROC=4"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout
    assert re.search(rf"accelerate launch --config_file {re.escape(str(config))} --num_processes 4 +-m scripts\.train",
                     line), line


def test_accelerate_config_set_covers_one_gpu_to_several_nodes():
    from accelerate.commands.config.config_args import load_config_from_file

    kinds = {p.stem: load_config_from_file(str(p)) for p in ACCELERATE_CONFIGS}
    assert set(kinds) == {"single_gpu", "ddp", "zero2", "zero3", "multi_node"}
    assert kinds["single_gpu"].num_processes == 1
    assert kinds["zero2"].deepspeed_config["zero_stage"] == 2 and kinds["zero3"].deepspeed_config["zero_stage"] == 3
    assert kinds["multi_node"].num_machines == 2 and kinds["multi_node"].num_processes == 16


def test_make_launch_lines(tmp_path):
    # Under `make test` the parent make's variables would make this one print "Entering directory".
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    # A venv that is set up (its stamp newer than pyproject.toml and constraints.txt), whatever state
    # the checkout's own .venv is in: only the launch line is printed.
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    newer = max(os.path.getmtime(ROOT / f) for f in ("pyproject.toml", "constraints.txt")) + 10
    (venv / ".installed").touch()
    os.utime(venv / ".installed", (newer, newer))

    def dry(*args):
        return subprocess.run(["make", "--no-print-directory", "-n", "train", f"VENV={venv}", *args], cwd=ROOT,
                              env=env, capture_output=True, text=True, check=True).stdout.strip()

    assert dry() == f"{venv}/bin/python -m scripts.train --config recipes/cpu_countdown_tiny.yaml"
    assert re.match(rf"{re.escape(str(venv))}/bin/torchrun --nproc_per_node 2 +-m scripts\.train --config ", dry("NPROC=2"))
    multi = dry("ACCELERATE_CONFIG=recipes/accelerate/multi_node.yaml", "NPROC=16",
                "LAUNCH_ARGS=--machine_rank 1 --main_process_ip 10.0.0.1")
    assert "--num_processes 16 --machine_rank 1 --main_process_ip 10.0.0.1 -m scripts.train" in multi
