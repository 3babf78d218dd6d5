"""Validating a parsed recipe: the checks TRL would only hit mid-run (or never), and GPU-only settings
on a machine without a GPU, each as one ``RecipeError`` line before anything loads.

Both read what ``scripts.lib.recipe.parsing.parse_recipe`` parsed once: ``check_gpu_settings`` the merged
settings (defaults < recipe < flags) before the dataclasses are built, ``validate`` the dataclasses.
"""

from __future__ import annotations

from argparse import Namespace

from rewards import ACCURACY_REWARD_FOR_TASK, REWARDS
from scripts.lib.recipe.arguments import REWARD_SETTING_FIELDS
from scripts.lib.recipe.cli import RecipeError
from scripts.lib.recipe.yaml_file import closest_key_hint


def check_gpu_settings(settings: Namespace) -> None:
    """GPU-only settings on a machine without a GPU: one line instead of a CUDA traceback.

    ``settings``: the recipe and flags merged over the dataclass defaults, before ``GRPOConfig`` is built
    (building it with ``bf16`` on a CPU raises transformers' own error first). ``bf16`` is still None there
    when neither the recipe nor a flag sets it; GRPOConfig then turns it on unless ``fp16`` is set.
    """
    import torch

    if torch.cuda.is_available():
        return
    bf16 = settings.bf16
    wanted = []
    if bf16 or (bf16 is None and not settings.fp16):
        wanted.append("bf16" if bf16 is not None else "bf16 (GRPOConfig's default when the recipe is silent)")
    if settings.use_vllm:
        wanted.append("use_vllm")
    if wanted:
        raise RecipeError(
            f"this machine has no GPU, but the recipe asks for {', '.join(wanted)}: run the CPU recipe "
            "(make train RECIPE=recipes/cpu_countdown_tiny.yaml) or override with ARGS=\"--bf16 false --use_vllm false\""
        )


def validate(script_args, training_args, model_args) -> None:
    """Checks TRL would only hit mid-run (or never), as one-line errors before anything loads."""
    if script_args.task not in ACCURACY_REWARD_FOR_TASK:
        raise RecipeError(f"unknown task `{script_args.task}`: use one of {sorted(ACCURACY_REWARD_FOR_TASK)}")
    if script_args.on_bad_row not in ("skip", "fail"):
        raise RecipeError(f"on_bad_row must be `skip` or `fail`, not `{script_args.on_bad_row}`")
    for name in script_args.reward_names():
        if name not in REWARDS and "." not in name:
            raise RecipeError(f"unknown reward `{name}`{closest_key_hint(name, REWARDS)}: valid rewards are {sorted(REWARDS)}")
    unused = script_args.unused_reward_settings()
    if unused:
        users = {key: reward for reward, keys in REWARD_SETTING_FIELDS.items() for key in keys}
        raise RecipeError(f"`{unused[0]}` is set but no reward in reward_funcs uses it (it is a setting of "
                          f"{users[unused[0]]}; reward_funcs: {script_args.reward_names()}): add that reward or "
                          "drop the setting")
    if "soft_overlong_punishment_reward" in script_args.reward_names():
        script_args.overlong_max_len = script_args.overlong_max_len or training_args.max_completion_length
        if not 0 < script_args.overlong_cache < script_args.overlong_max_len:
            raise RecipeError(f"soft_overlong_punishment_reward needs 0 < overlong_cache < overlong_max_len "
                              f"({script_args.overlong_max_len}), got overlong_cache {script_args.overlong_cache}: "
                              "DAPO uses 4096 of 20480")
    if script_args.cosine_max_len <= 0:
        raise RecipeError(f"cosine_max_len must be positive, got {script_args.cosine_max_len}")
    if script_args.repetition_n_grams < 1:
        raise RecipeError(f"repetition_n_grams must be at least 1, got {script_args.repetition_n_grams}")
    if script_args.repetition_max_penalty > 0:
        raise RecipeError(f"repetition_max_penalty must be <= 0 (a penalty), got {script_args.repetition_max_penalty}")
    weights = training_args.reward_weights
    if weights is not None and len(weights) != len(script_args.reward_names()):
        raise RecipeError(
            f"reward_weights has {len(weights)} values but reward_funcs has {len(script_args.reward_names())}"
        )
    if training_args.learning_rate <= 0:
        raise RecipeError(f"learning_rate must be positive, got {training_args.learning_rate}")
    if training_args.beta < 0:
        raise RecipeError(f"beta must be >= 0, got {training_args.beta}")
    if not model_args.model_name_or_path:
        raise RecipeError("model_name_or_path is not set (a hub id like Qwen/Qwen2.5-0.5B-Instruct or a local folder)")
    if script_args.countdown_question_style not in ("full", "terse"):
        raise RecipeError(f"countdown_question_style must be `full` or `terse`, not `{script_args.countdown_question_style}`")
    if script_args.countdown_min_numbers > script_args.countdown_max_numbers:
        raise RecipeError("countdown_min_numbers is larger than countdown_max_numbers")
    if script_args.lora_layers_to_transform:
        targets = model_args.lora_target_modules
        if not model_args.use_peft:
            raise RecipeError("lora_layers_to_transform is set but use_peft is not: set use_peft: true")
        if targets is None or isinstance(targets, str) or targets == ["all-linear"]:
            raise RecipeError("lora_layers_to_transform needs lora_target_modules as a list of module names "
                              "(peft refuses all-linear with it), e.g. [q_proj, k_proj, v_proj, o_proj]")
    for key in ("aha_baseline_steps", "aha_window", "aha_smoothing", "log_samples_count"):
        if getattr(script_args, key) < 1:
            raise RecipeError(f"{key} must be at least 1, got {getattr(script_args, key)}")
    if script_args.health_patience < 1 or script_args.health_flat_logs < 1:
        raise RecipeError("health_patience and health_flat_logs must be at least 1")
    if script_args.log_samples_every < 0:
        raise RecipeError(f"log_samples_every must be >= 0 (0: never), got {script_args.log_samples_every}")
    if script_args.holdout_eval_steps < 0 or script_args.holdout_eval_samples < 0:
        raise RecipeError("holdout_eval_steps and holdout_eval_samples must be >= 0 (0: off)")
    if script_args.holdout_eval_steps and not script_args.holdout_size:
        raise RecipeError("holdout_eval_steps needs held-out prompts: set holdout_size (e.g. 64)")
    # TrainingArguments' own resume field is a synonym of `resume`, so HF-style recipes work too;
    # two different answers to the same question are refused rather than one silently winning.
    other = training_args.resume_from_checkpoint
    if other and script_args.resume not in ("auto", other):
        raise RecipeError(f"resume is `{script_args.resume}` but resume_from_checkpoint is `{other}`: set only `resume`")
    if other:
        script_args.resume = other
    if not script_args.resume:
        raise RecipeError("resume must be `auto`, `never`, or a checkpoint-N folder")
