"""The kit's arguments: ``R1ZeroArguments``, what `trl grpo` leaves to the script, beside TRL's
``GRPOConfig`` and ``ModelConfig``; ``REWARD_SETTING_FIELDS`` maps each reward setting to its reward.

Each default lives here once (``field(default=..., metadata={"help": ...})``); the recipe YAML and the
command line override them (``scripts.lib.recipe.parsing.parse_recipe``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields

from rewards import ACCURACY_REWARD_FOR_TASK, REWARDS
from scripts.lib.measure.reflection import DEFAULT_REFLECTION_PHRASES


@dataclass
class R1ZeroArguments:
    """What `trl grpo` leaves to the script: the task, its data, its prompt, its rewards."""

    # Task and data
    task: str = field(default="countdown", metadata={"help": "Task: `countdown`, `arithmetic`, `gsm8k` or `math`."})
    dataset_name: str | None = field(
        default=None,
        metadata={"help": "Hub id (`openai/gsm8k`, `Jiayi-Pan/Countdown-Tasks-3to4`), a local .jsonl file, or a "
                  "folder with {split}.jsonl. Countdown without it is generated."},
    )
    dataset_train_split: str = field(default="train", metadata={"help": "Split to train on."})
    dataset_test_split: str = field(default="test", metadata={"help": "Held-out split (hub or folder)."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Use at most this many training rows."})
    holdout_size: int = field(
        default=0,
        metadata={"help": "Held-out prompts scored before and after training (0: skip the before/after table)."},
    )
    on_bad_row: str = field(
        default="skip", metadata={"help": "A row with no gold answer: `skip` (and count) or `fail`."}
    )
    math_levels: list[int] | None = field(
        default=None,
        metadata={"help": "task math: keep only these MATH levels (R1-Zero runs use [3, 4, 5]; default: all)."},
    )
    # Countdown generator (used when dataset_name is not set)
    countdown_min_numbers: int = field(default=3, metadata={"help": "Fewest numbers per problem."})
    countdown_max_numbers: int = field(default=4, metadata={"help": "Most numbers per problem."})
    countdown_max_number: int = field(default=99, metadata={"help": "Numbers are drawn from 1..this."})
    countdown_min_target: int = field(default=1, metadata={"help": "Smallest target."})
    countdown_max_target: int = field(default=100, metadata={"help": "Largest target."})
    countdown_ops: str = field(default="+-*/", metadata={"help": "Operators the generator uses."})
    countdown_question_style: str = field(
        default="full", metadata={"help": "`full` (TinyZero's sentence) or `terse` (`numbers 3 2 3 target 18`)."}
    )
    countdown_chain: bool = field(
        default=False, metadata={"help": "Targets from `((a o b) o c)` chains only (easier), not any tree."}
    )
    # Arithmetic generator (task arithmetic, used when dataset_name is not set)
    arithmetic_max_number: int = field(default=20, metadata={"help": "Operands are drawn from 1..this."})
    arithmetic_ops: str = field(default="+", metadata={"help": "Operators the generator uses (from `+-*`)."})
    # Prompt
    prompt_template: str = field(
        default="r1_zero",
        metadata={"help": "`r1_zero` (base models), `r1_zero_prefill`, `compact`, `chat` (instruct models), "
                  "`chat_think` (chat with `<think>` pre-filled), or a string with `{question}`."},
    )
    system_prompt: str | None = field(
        default=None, metadata={"help": "System message for the `chat` template (default: the R1-Zero one)."}
    )
    # LoRA beyond TRL's ModelConfig (lora_r, lora_alpha, lora_target_modules live there)
    lora_layers_to_transform: list[int] | None = field(
        default=None,
        metadata={"help": "use_peft: LoRA on these layer indices only (peft's layers_to_transform); the top "
                  "layers alone make backward stop early."},
    )
    # Rewards
    reward_funcs: list[str] | None = field(
        default=None,
        metadata={"help": f"Reward names from {sorted(REWARDS)} or dotted import paths. Default: format_reward "
                  "and the task's accuracy reward."},
    )
    countdown_allow_subset: bool = field(
        default=False, metadata={"help": "countdown_reward: allow equations that leave numbers unused."}
    )
    gsm8k_fallback_last_number: bool = field(
        default=False,
        metadata={"help": "gsm8k_accuracy_reward: with no <answer> block, use the last number in the completion."},
    )
    # cosine_scaled_accuracy_reward and repetition_penalty_reward (open-r1's names; TRL's defaults)
    cosine_max_len: int = field(
        default=1000, metadata={"help": "cosine_scaled_accuracy_reward: length (tokens) where the schedule ends."}
    )
    cosine_min_value_wrong: float = field(default=-1.0, metadata={"help": "Reward of a wrong answer at length 0."})
    cosine_max_value_wrong: float = field(default=-0.5, metadata={"help": "Reward of a wrong answer at cosine_max_len."})
    cosine_min_value_correct: float = field(default=0.5, metadata={"help": "Reward of a right answer at cosine_max_len."})
    cosine_max_value_correct: float = field(default=1.0, metadata={"help": "Reward of a right answer at length 0."})
    repetition_n_grams: int = field(default=3, metadata={"help": "repetition_penalty_reward: token n-gram size."})
    repetition_max_penalty: float = field(
        default=-1.0, metadata={"help": "repetition_penalty_reward: penalty of a fully repetitive completion (<= 0)."}
    )
    # soft_overlong_punishment_reward (DAPO's overlong reward shaping; TRL's get_soft_overlong_punishment)
    overlong_max_len: int = field(
        default=0, metadata={"help": "soft_overlong_punishment_reward: L_max in tokens, where the penalty reaches -1 "
                             "(0: max_completion_length, as DAPO)."}
    )
    overlong_cache: int = field(
        default=0, metadata={"help": "soft_overlong_punishment_reward: L_cache, the last tokens before L_max over "
                             "which the penalty falls from 0 to -1 (DAPO: 4096 of 20480)."}
    )
    # Tiny offline base model
    tiny_base_recipe: str | None = field(
        default=None,
        metadata={"help": "Build the tiny CPU base model from this recipe into model_name_or_path if it is missing "
                  "or its recipe changed."},
    )
    # Run control (scripts/lib/runs/resume.py). GRPOConfig's `resume_from_checkpoint`, if set, means the same.
    resume: str = field(
        default="auto",
        metadata={"help": "`auto`: continue from the newest complete checkpoint-N in output_dir (fresh if none); "
                  "`never`: start fresh, refusing a non-empty output_dir; or a checkpoint-N folder to continue from."},
    )
    # Preflight (scripts/preflight.py)
    preflight: bool = field(
        default=True,
        metadata={"help": "Before training, check template/reward consistency, data and memory; stop on a run that "
                  "cannot learn. `make preflight` runs the same checks (and can sample the model)."},
    )
    # Monitoring
    reflection_phrases: list[str] = field(
        default_factory=lambda: list(DEFAULT_REFLECTION_PHRASES),
        metadata={"help": "Phrases that count as a self-check (tracker, make eval, before/after, audit). Default: "
                  "DeepSeek-R1's kind of list, with \"wait\"; oat-zero leaves \"wait\" out as often spurious "
                  "(scripts/lib/measure/reflection.py explains the choice)."},
    )
    log_samples_every: int = field(
        default=20, metadata={"help": "Log a few full completions as TensorBoard text every this many steps (0: never)."}
    )
    log_samples_count: int = field(default=3, metadata={"help": "Completions in each TensorBoard text sample."})
    holdout_eval_steps: int = field(
        default=0,
        metadata={"help": "Every this many steps, score the held-out prompts as `make eval` does (greedy pass@1, "
                  "sampled pass@k, format, length, self-checks) and log them under eval/ (0: never; costs one "
                  "generation pass over holdout_size prompts each time)."},
    )
    holdout_eval_samples: int = field(
        default=4, metadata={"help": "Sampled completions per held-out prompt for eval/pass@k (0: greedy only)."}
    )
    # Health checks (scripts/lib/training/health_checks.py): an alarm line when a condition holds for health_patience logged steps
    health: bool = field(default=True, metadata={"help": "Watch the run's logs and raise one-line alarms (false: off)."})
    health_stop: bool = field(
        default=False, metadata={"help": "After an alarm, stop at the next checkpoint (exit code 3)."}
    )
    health_patience: int = field(default=10, metadata={"help": "Logged steps a condition must hold before it alarms."})
    health_zero_std_frac: float = field(
        default=0.9, metadata={"help": "Groups teach nothing: frac_reward_zero_std at or above this."}
    )
    health_clipped_ratio: float = field(
        default=0.5, metadata={"help": "Completions cut off: completions/clipped_ratio at or above this."}
    )
    health_format_learned: float = field(
        default=0.9, metadata={"help": "Format learned, accuracy flat: mean format rate at or above this ..."}
    )
    health_flat_logs: int = field(
        default=50, metadata={"help": "... over this many logged steps, while accuracy rose less than "
                              "health_accuracy_rise over its first health_patience logs."}
    )
    health_accuracy_rise: float = field(
        default=0.01, metadata={"help": "Accuracy rise that counts (format learned, length explosion; held-out "
                                "accuracy for reward hacking)."}
    )
    health_length_collapse: float = field(
        default=0.3, metadata={"help": "Length collapse: mean length below this share of the first logs' mean."}
    )
    health_length_growth: float = field(
        default=3.0, metadata={"help": "Length explosion: mean length this many times the first logs' mean, "
                               "accuracy flat."}
    )
    health_entropy_floor: float = field(
        default=0.05, metadata={"help": "Entropy collapse: entropy (nats/token) below this."}
    )
    health_spike_factor: float = field(
        default=10.0, metadata={"help": "KL / grad norm blow-up: this many times its median over the logs before."}
    )
    health_hacking_reward_rise: float = field(
        default=0.1, metadata={"help": "Reward hacking: train reward up by this while held-out accuracy is flat "
                               "(needs holdout_eval_steps)."}
    )
    # Aha-step heuristic (scripts/lib/measure/aha.py): both curves must rise over their early baseline and stay up.
    aha_baseline_steps: int = field(default=10, metadata={"help": "Logged steps averaged into the early baseline."})
    aha_reflection_margin: float = field(
        default=0.15, metadata={"help": "Rise in self-check share over the baseline that counts."}
    )
    aha_accuracy_margin: float = field(default=0.05, metadata={"help": "Rise in accuracy over the baseline that counts."})
    aha_window: int = field(
        default=10, metadata={"help": "Logged steps both rises must last (keep it larger than aha_smoothing)."}
    )
    aha_smoothing: int = field(default=5, metadata={"help": "Trailing mean over this many logged steps before comparing."})
    aha_wrong_to_right_margin: float = field(
        default=0.02,
        metadata={"help": "Countdown only: rise in the wrong->right rate (first try wrong, answer right) over the "
                  "baseline that must come with the other two (checks that fix answers, not words)."},
    )

    def countdown_settings(self) -> dict:
        """Keyword arguments for ``data.countdown.generate_countdown``."""
        return {
            "n_numbers": (self.countdown_min_numbers, self.countdown_max_numbers),
            "number_range": (1, self.countdown_max_number),
            "target_range": (self.countdown_min_target, self.countdown_max_target),
            "ops": self.countdown_ops,
            "chain": self.countdown_chain,
        }

    def reward_names(self) -> list[str]:
        return list(self.reward_funcs or ["format_reward", ACCURACY_REWARD_FOR_TASK.get(self.task, "")])

    def reward_settings(self) -> dict[str, dict]:
        """Each reward's constructor settings, keyed by reward name (``rewards.get_rewards`` takes it)."""
        settings = {name: {kwarg: getattr(self, key) for key, kwarg in keys.items()}
                    for name, keys in REWARD_SETTING_FIELDS.items()}
        # The cosine reward wraps the task's accuracy reward, with that reward's settings.
        settings["cosine_scaled_accuracy_reward"].update(
            task=self.task, **settings["countdown_reward"], **settings["gsm8k_accuracy_reward"])
        return settings

    def unused_reward_settings(self) -> list[str]:
        """Recipe reward settings set away from their default that no reward in ``reward_funcs`` uses."""
        names = set(self.reward_names())
        if "cosine_scaled_accuracy_reward" in names:  # it scores with the task's accuracy reward
            names.add(ACCURACY_REWARD_FOR_TASK.get(self.task, ""))
        defaults = R1ZeroArguments()
        return [key for reward, keys in REWARD_SETTING_FIELDS.items() if reward not in names
                for key in keys if getattr(self, key) != getattr(defaults, key)]

    def build_dataset(self, seed: int, test_size: int | None = None):
        """(train rows, held-out rows, skipped) as training builds them; `make eval` rebuilds the same."""
        from data import build_dataset

        return build_dataset(
            self.task, self.dataset_name, self.dataset_train_split, self.dataset_test_split, self.prompt_template,
            self.system_prompt, self.on_bad_row, self.max_train_samples,
            self.holdout_size if test_size is None else test_size, self.countdown_settings(), seed=seed,
            question_style=self.countdown_question_style, math_levels=self.math_levels,
            arithmetic={"max_number": self.arithmetic_max_number, "ops": self.arithmetic_ops},
        )

    def peft_config(self, model_args):
        """TRL's LoRA config from ``model_args`` (None without ``use_peft``), restricted to
        ``lora_layers_to_transform``; ``dataclasses.replace`` runs peft's own checks on the result."""
        import dataclasses

        from trl import get_peft_config  # heavy; only training and preflight need it

        config = get_peft_config(model_args)
        if config is not None and self.lora_layers_to_transform:
            config = dataclasses.replace(config, layers_to_transform=list(self.lora_layers_to_transform))
        return config

    def health_thresholds(self) -> dict:
        """Keyword arguments for ``scripts.lib.training.health_checks.Thresholds``: the ``health_*`` values, prefix dropped."""
        return {f.name[len("health_"):]: getattr(self, f.name) for f in fields(self)
                if f.name.startswith("health_") and f.name != "health_stop"}

    def aha_settings(self) -> dict:
        """Keyword arguments for ``scripts.lib.measure.aha.AhaDetector``."""
        return {"baseline_steps": self.aha_baseline_steps, "reflection_margin": self.aha_reflection_margin,
                "accuracy_margin": self.aha_accuracy_margin, "window": self.aha_window,
                "smoothing": self.aha_smoothing,
                "wrong_to_right_margin": self.aha_wrong_to_right_margin if self.task == "countdown" else None}


# reward name -> {recipe field: the reward constructor's keyword}; one entry per reward setting.
REWARD_SETTING_FIELDS = {
    "countdown_reward": {"countdown_allow_subset": "allow_subset"},
    "gsm8k_accuracy_reward": {"gsm8k_fallback_last_number": "fallback_to_last_number"},
    "cosine_scaled_accuracy_reward": {
        "cosine_max_len": "max_len", "cosine_min_value_wrong": "min_value_wrong",
        "cosine_max_value_wrong": "max_value_wrong", "cosine_min_value_correct": "min_value_correct",
        "cosine_max_value_correct": "max_value_correct"},
    "repetition_penalty_reward": {"repetition_n_grams": "ngram_size", "repetition_max_penalty": "max_penalty"},
    "soft_overlong_punishment_reward": {"overlong_max_len": "max_completion_len", "overlong_cache": "soft_punish_cache"},
}


def chat_template_kwargs(training_args) -> dict:
    """GRPOConfig's ``chat_template_kwargs`` (from the config or its ``vars()``) as a dict; the command
    line gives it as a JSON string."""
    settings = training_args if isinstance(training_args, dict) else vars(training_args)
    value = settings.get("chat_template_kwargs") or {}
    return json.loads(value) if isinstance(value, str) else dict(value)
