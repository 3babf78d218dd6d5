"""Each recipe beside its source: the settings that decide a run, the source's value next to the recipe's.

``recipes/sources/sources.yaml`` holds, per recipe file, where its numbers come from and the source's value of
each setting in ``SETTINGS`` (a value the source does not give is written ``not stated in source``; a
setting the source's algorithm does not have, ``n/a``). The recipe's side is computed here from the
recipe as ``make train`` parses it, so the table cannot drift from the YAML. A recipe value that differs
from its source must be marked ``deliberate: <reason>`` in the sidecar; ``make recipes-check``
(``scripts/recipes_check.py``) prints every table and fails with one line per unexplained difference.

    make recipes-check
    python -m scripts.recipes_check --recipe recipes/qwen2.5-3b_countdown.yaml
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from scripts.lib.recipe.cli import UserError
from scripts.lib.recipe.parsing import parse_recipe
from scripts.lib.recipe.yaml_file import load_recipe_yaml

SIDECAR = "recipes/sources/sources.yaml"
# Values the source does not give, or settings its algorithm does not have: shown, never compared.
UNCOMPARED = ("not stated in source", "n/a")

# setting -> what it means (the recipe side is computed by ``recipe_values``)
SETTINGS = {
    "model": "model_name_or_path",
    "data": "dataset_name (+ MATH levels)",
    "template": "prompt_template",
    "algorithm": "the policy objective: loss_type's family, importance_sampling_level, delta, masks",
    "loss": "loss_type (how token losses are averaged)",
    "advantage_std": "advantages divided by the group's reward std (scale_rewards)",
    "clip": "epsilon, or epsilon/epsilon_high",
    "lr": "learning_rate",
    "lr_schedule": "lr_scheduler_type",
    "warmup": "warmup_steps (a float below 1: a ratio)",
    "adam_betas": "adam_beta1/adam_beta2",
    "weight_decay": "weight_decay",
    "grad_clip": "max_grad_norm",
    "prompts_per_step": "prompts per optimizer step on `gpus` GPUs",
    "samples_per_prompt": "num_generations",
    "prompts_per_generation": "prompts sampled per generation round on `gpus` GPUs",
    "kl": "beta",
    "entropy_bonus": "entropy_coef (TRL 1.16: a mean per-token entropy bonus)",
    "max_tokens": "max_completion_length",
    "temperature": "temperature",
    "top_p": "top_p",
    "stop": "generation_kwargs stop strings",
    "reward": "reward_funcs x reward_weights",
    "steps": "max_steps, else num_train_epochs",
    "mask_truncated": "mask_truncated_completions",
    "vllm_is_correction": "vllm_importance_sampling_correction",
}


class SourcesError(UserError):
    """A problem with recipes/sources/sources.yaml or a recipe it names, in one line."""


@dataclass
class Row:
    setting: str
    source: str
    recipe: str
    reason: str | None  # the sidecar's `deliberate:` reason, if any

    @property
    def compared(self) -> bool:
        return self.source not in UNCOMPARED

    @property
    def differs(self) -> bool:
        return self.compared and not same(self.source, self.recipe)

    @property
    def status(self) -> str:
        if not self.differs:
            return "same" if self.compared else "-"
        return f"deliberate: {self.reason}" if self.reason else "DIFFERS, no reason given"


def same(a, b) -> bool:
    """Equal as numbers when both read as numbers (1e-6 == 0.000001), else as trimmed text.

    >>> same("1e-6", "1.0e-06"), same("0.2/0.28", "0.2/0.28"), same("8", "16")
    (True, True, False)
    """
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a).strip() == str(b).strip()


def _num(value) -> str:
    """A value as the table shows it: ``1e-06``, ``0.2``, ``true``, text as is."""
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


# TRL 1.16's loss_type: grpo, dr_grpo, dapo and bnpo are GRPO's clipped objective averaged four ways (the
# `loss` row); these are objectives of their own.
OWN_OBJECTIVES = {"cispo": "CISPO", "sapo": "SAPO", "luspo": "LUSPO", "vespo": "VESPO"}


def algorithm(train) -> str:
    """The objective TRL's GRPOTrainer optimizes with these settings, named as the papers name it.

    >>> from types import SimpleNamespace as S
    >>> algorithm(S(loss_type="dr_grpo", importance_sampling_level="token", delta=None, top_entropy_quantile=1.0))
    'GRPO'
    >>> algorithm(S(loss_type="dapo", importance_sampling_level="sequence", delta=None, top_entropy_quantile=1.0))
    'GSPO'
    >>> algorithm(S(loss_type="cispo", importance_sampling_level="token", delta=4.0, top_entropy_quantile=0.2))
    'CISPO (two-sided clip, delta 4; loss on the top 0.2 of tokens by entropy)'
    """
    name = OWN_OBJECTIVES.get(train.loss_type, "GRPO")
    if train.importance_sampling_level == "sequence":
        name = "GSPO" if name == "GRPO" else f"{name} with sequence-level ratios"
    extras = []
    if getattr(train, "delta", None) is not None:
        extras.append(f"two-sided clip, delta {_num(train.delta)}")
    if getattr(train, "off_policy_mask_threshold", None) is not None:
        extras.append(f"off-policy masking at {_num(train.off_policy_mask_threshold)}")
    if getattr(train, "top_entropy_quantile", 1.0) < 1.0:
        extras.append(f"loss on the top {_num(train.top_entropy_quantile)} of tokens by entropy")
    return name + (f" ({'; '.join(extras)})" if extras else "")


def recipe_values(path: str, gpus: int = 1) -> dict[str, str]:
    """The recipe's side of every setting in ``SETTINGS``, as ``make train`` parses it (on ``gpus`` GPUs)."""
    argv = ["--config", path, "--bf16", "false", "--use_vllm", "false", "--output_dir", "/tmp/recipes-check"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        script, train, model = parse_recipe(argv)
    raw = load_recipe_yaml(path)  # GPU switches overridden above are read from the file itself
    completions_per_step = train.per_device_train_batch_size * train.gradient_accumulation_steps * gpus
    per_generation = train.per_device_train_batch_size * gpus * (train.steps_per_generation
                                                                 or train.gradient_accumulation_steps)
    kwargs = train.generation_kwargs or {}
    data = script.dataset_name or f"generated {script.task}"
    if script.math_levels:
        data += f" levels {'-'.join(str(x) for x in (min(script.math_levels), max(script.math_levels)))}"
    weights = train.reward_weights or [1.0] * len(script.reward_names())
    clip = _num(train.epsilon) + (f"/{_num(train.epsilon_high)}" if train.epsilon_high is not None else "")
    return {
        "model": model.model_name_or_path,
        "data": data,
        "template": script.prompt_template,
        "algorithm": algorithm(train),
        "loss": train.loss_type,
        "advantage_std": str(train.scale_rewards not in ("none", False)).lower(),
        "clip": clip,
        "lr": _num(train.learning_rate),
        "lr_schedule": str(getattr(train.lr_scheduler_type, "value", train.lr_scheduler_type)),
        "warmup": _num(train.warmup_steps),
        "adam_betas": f"{_num(train.adam_beta1)}/{_num(train.adam_beta2)}",
        "weight_decay": _num(train.weight_decay),
        "grad_clip": _num(train.max_grad_norm),
        "prompts_per_step": _num(completions_per_step / train.num_generations),
        "samples_per_prompt": str(train.num_generations),
        "prompts_per_generation": _num(per_generation / train.num_generations),
        "kl": _num(train.beta),
        "entropy_bonus": _num(float(getattr(train, "entropy_coef", 0.0))),
        "max_tokens": str(train.max_completion_length),
        "temperature": _num(train.temperature),
        "top_p": _num(train.top_p),
        "stop": " ".join(kwargs.get("stop") or []) or "none",
        "reward": " + ".join(f"{name} x{_num(float(w))}" for name, w in zip(script.reward_names(), weights)),
        "steps": str(train.max_steps) if train.max_steps > 0 else f"{_num(train.num_train_epochs)} epochs",
        "mask_truncated": str(train.mask_truncated_completions).lower(),
        "vllm_is_correction": (str(train.vllm_importance_sampling_correction).lower() if raw.get("use_vllm")
                               else "n/a (no vLLM)"),
    }


def load_sidecar(path: str = SIDECAR) -> dict:
    """``recipes/sources/sources.yaml`` checked: each entry names an existing recipe, known settings, a source line."""
    data = load_recipe_yaml(path)  # same one-line YAML errors as a recipe
    root = Path(path).parent.parent  # recipes/sources/sources.yaml -> recipes/
    for name, entry in data.items():
        if not (root / name).is_file():
            raise SourcesError(f"{path}: `{name}` is not a recipe in {root}/")
        if not isinstance(entry, dict) or not entry.get("source"):
            raise SourcesError(f"{path}: `{name}` needs a `source:` line (what it reproduces, or `none`)")
        for setting, spec in (entry.get("settings") or {}).items():
            if setting not in SETTINGS:
                raise SourcesError(f"{path}: `{name}`: unknown setting `{setting}` (settings: {', '.join(SETTINGS)})")
            if not isinstance(spec, dict) or "source" not in spec:
                raise SourcesError(f"{path}: `{name}`: `{setting}` needs `source: <value>` "
                                   "(or `not stated in source`)")
    return data


def compare(recipe: str, entry: dict) -> list[Row]:
    """The rows of one recipe's table: every setting its sidecar entry lists, source beside recipe."""
    values = recipe_values(recipe, int(entry.get("gpus", 1)))
    return [Row(setting, _num(spec["source"]), values[setting], spec.get("deliberate"))
            for setting, spec in (entry.get("settings") or {}).items()]


def check_all(recipes_dir: str = "recipes", sidecar: str | None = None,
              only: list[str] | None = None) -> tuple[list[tuple[str, dict, list[Row]]], list[str]]:
    """(recipe name, its entry, its rows) per recipe, and one line per unexplained difference or missing entry."""
    sidecar = sidecar or str(Path(recipes_dir) / "sources" / "sources.yaml")
    entries = load_sidecar(sidecar)
    names = sorted(p.name for p in Path(recipes_dir).glob("*.yaml"))
    if only:
        names = [Path(n).name for n in only]
    tables, problems = [], []
    for name in names:
        if name not in entries:
            problems.append(f"{name}: no entry in {sidecar} (add its source and settings, or `source: none`)")
            continue
        rows = compare(str(Path(recipes_dir) / name), entries[name])
        tables.append((name, entries[name], rows))
        problems += [f"{name}: {row.setting} is {row.recipe}, the source says {row.source}: mark it "
                     f"`deliberate: <reason>` in {sidecar} or change the recipe"
                     for row in rows if row.differs and not row.reason]
        problems += [f"{name}: {row.setting} is marked deliberate but matches its source ({row.source}): "
                     "drop the mark" for row in rows if row.reason and not row.differs]
    return tables, problems


def format_table(name: str, entry: dict, rows: list[Row]) -> str:
    """A markdown table: setting | source | recipe | status."""
    lines = [f"## {name}", f"source: {entry['source']}" + (f" (recipe batch on {entry['gpus']} GPUs)"
                                                          if entry.get("gpus", 1) != 1 else ""), "",
             "| setting | source | recipe | status |", "|---|---|---|---|"]
    lines += [f"| {r.setting} | {r.source} | {r.recipe} | {r.status} |" for r in rows]
    return "\n".join(lines)
