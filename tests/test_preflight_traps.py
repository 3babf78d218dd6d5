"""Preflight's setup section: the known traps of GRPO/vLLM/PEFT settings, each one line with its fix."""

from __future__ import annotations

import socket

import pytest

from conftest import FIXTURES, ROOT
from scripts.lib.recipe.parsing import parse_recipe
from scripts.lib.preflight.resources import check_setup

CPU = ["--bf16", "false", "--use_vllm", "false", "--use_cpu", "true", "--output_dir", "/tmp/traps"]


def settings(recipe="qwen2.5-3b_countdown_lora.yaml", *flags):
    """A recipe's parsed (GRPOConfig, ModelConfig), with vLLM switched back on after the CPU parse."""
    _, training, model = parse_recipe(["--config", str(ROOT / "recipes" / recipe), *CPU, *flags])
    raw = __import__("yaml").safe_load((ROOT / "recipes" / recipe).read_text())
    training.use_vllm = raw.get("use_vllm", False)
    return training, model


def test_vllm_colocate_with_peft_fails_on_several_gpus_and_warns_on_one():
    training, model = settings()  # the LoRA recipe: colocate + PEFT
    many = check_setup(training, model, processes=4)
    assert len(many.failures) == 1 and "TRL #3671" in many.failures[0] and "vllm_mode: server" in many.failures[0]
    one = check_setup(training, model, processes=1)
    assert not one.failures and "runs on this one GPU but hangs" in one.warnings[0]
    training.vllm_mode = "server"
    training.vllm_server_host = "10.0.0.9"  # not local: never connected to
    assert not check_setup(training, model, processes=4).failures


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_vllm_server_mode_without_a_server_warns_with_the_command_to_start_it():
    training, model = settings("qwen2.5-math-1.5b_gsm8k_r1zero.yaml")  # server mode, 127.0.0.1:8000
    training.vllm_server_port = free_port()
    section = check_setup(training, model, processes=1)
    assert section.warnings == [w for w in section.warnings if "no vLLM server answers" in w] and section.warnings
    assert f"127.0.0.1:{training.vllm_server_port}" in section.warnings[0]
    assert f"trl vllm-serve --model Qwen/Qwen2.5-Math-1.5B --port {training.vllm_server_port}" in section.warnings[0]
    with socket.socket() as server:  # a listener on the port: nothing to say
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        training.vllm_server_port = server.getsockname()[1]
        assert not check_setup(training, model, processes=1).warnings
    training.vllm_server_host = "gpu-node-7"
    assert "not checked (not local)" in check_setup(training, model, processes=1).summary


@pytest.mark.parametrize("per_device, steps, gens, bad", [
    (6, 1, 8, "1, 2"),      # 6 and 12 are not multiples of 8; 4 and 8 GPUs (24, 48) are
    (4, 2, 16, "1"),        # 8 completions on one GPU: half a group; 2, 4, 8 GPUs fine
    (8, 16, 8, None),       # every count splits (the Dr. GRPO recipes' shape)
])
def test_a_generation_batch_that_does_not_split_into_groups_is_named_per_gpu_count(per_device, steps, gens, bad):
    training, model = settings("qwen2.5-3b_countdown.yaml")
    training.per_device_train_batch_size, training.steps_per_generation, training.num_generations = per_device, steps, gens
    warnings = check_setup(training, model, processes=8).warnings
    if bad is None:
        assert not warnings
    else:
        assert len(warnings) == 1 and warnings[0].startswith(f"on {bad} GPU(s) the generation batch")


def test_stop_strings_with_mask_truncated_completions_fail():
    training, model = settings("qwen2.5-math-1.5b_math_zero.yaml", "--mask_truncated_completions", "true")
    section = check_setup(training, model, processes=1)
    assert len(section.failures) == 1 and "every completion a stop string ends would be masked" in section.failures[0]
    training.mask_truncated_completions = False
    assert not check_setup(training, model, processes=1).failures


def test_the_dapo_recipe_passes_preflight_on_the_tiny_model(tiny_model_dir, capsys):
    """`make preflight RECIPE=recipes/qwen2.5-math-7b_dapo.yaml` with the tiny local model in place of Qwen."""
    from scripts import preflight

    code = preflight.main(["--config", str(ROOT / "recipes" / "qwen2.5-math-7b_dapo.yaml"), *CPU[:6],
                           "--model_name_or_path", str(tiny_model_dir), "--dtype", "float32",
                           "--dataset_name", str(FIXTURES / "math_small.jsonl"), "--dataset_train_split", "train",
                           "--max_completion_length", "64", "--overlong_max_len", "64", "--overlong_cache", "32"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "math_accuracy_reward=1.0" in out and "wrong answer: math_accuracy_reward=0.0" in out  # boxed probes
    assert "answer asked in \\boxed{}" in out and "setup      ok   no known trap" in out
    assert "preflight passed (0 warning(s))" in out
