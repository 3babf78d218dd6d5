"""A checkpoint as a clean Hugging Face model folder: merged weights, tokenizer, generation config, model card.

The weights are saved as safetensors (a LoRA adapter merged into its base, loaded by
``scripts/lib/models.py`` like every other model), the generation config samples like training did,
and ``README.md`` is a model card naming the recipe, the step and the metrics logged at that step
(read from the run's files, ``scripts/lib/run_files.py``). Optimizer and RNG states are left behind.
"""

from __future__ import annotations

import json
from pathlib import Path

from data.loading import is_local
from scripts.lib.aha import detect_aha
from scripts.lib.models import load_trained, model_kind, tokenizer_json_is_authoritative, weights_source
from scripts.lib.run_files import (
    COLUMNS,
    RUN_INFO,
    STATE,
    RunError,
    accuracy_reward_name,
    aha_line,
    aha_settings,
    history_of,
    load_history,
    metrics_at,
    read_json,
    run_info,
)


def _run_dir(ckpt: Path) -> Path:
    """A checkpoint's run is its parent; a final model saved into output_dir is the run itself."""
    return ckpt.parent if ckpt.name.startswith("checkpoint-") else ckpt


def generation_config(model, tokenizer, training: dict):
    """The model's generation config with the tokens set, sampling like GRPO sampled (when known)."""
    config = model.generation_config
    config.eos_token_id = tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if training.get("temperature"):
        config.do_sample = True
        config.temperature = training["temperature"]
        # TRL samples with no top-k/top-p cut unless the recipe sets one; transformers' own default is top_k=50.
        config.top_k = training.get("top_k") or 0
        config.top_p = training.get("top_p") if training.get("top_p") is not None else 1.0
    if training.get("max_completion_length"):
        config.max_new_tokens = training["max_completion_length"]
    return config


def checkpoint_metrics(ckpt: Path, info: dict) -> tuple[int | None, dict]:
    state = ckpt / STATE
    if not state.is_file():
        return None, {}
    step = read_json(state).get("global_step")
    if not isinstance(step, int):
        return None, {}
    return step, metrics_at(history_of(state), step, accuracy_reward_name(info))[1]


def _looks_like_hub_id(name: str | None) -> bool:
    return bool(name) and name.count("/") == 1 and not is_local(name)


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "–" if value is None else str(value)


def model_card(ckpt: Path, out: Path, info: dict, step: int | None, metrics: dict, aha: str, base: str | None,
               held_out: dict | None) -> str:
    base_model = info.get("base_model") or base
    front = ["---", "library_name: transformers", "tags: [grpo, trl, r1-zero, reasoning]"]
    if _looks_like_hub_id(base_model):
        front.append(f"base_model: {base_model}")
    front.append("---")
    training = info.get("training", {})
    rewards = ", ".join(f"`{name}` x {weight}" for name, weight in
                        zip(info.get("reward_funcs") or [], info.get("reward_weights") or [1.0] * 99))
    lines = [
        *front, "",
        f"# {_run_dir(ckpt).name} / {ckpt.name}", "",
        "A policy trained with GRPO (DeepSeek-R1-Zero recipe: rule-based rewards only) by the r1-zero-aha kit, "
        "exported with `make export`. It answers in `<think> … </think> <answer> … </answer>`.", "",
        f"- recipe: `{info.get('recipe') or 'unknown'}`",
        f"- command: `{info['command']}`" if info.get("command") else "- command: unknown (no run_info.json)",
        f"- base model: `{base_model or 'unknown'}`" + (" (LoRA adapters merged into it)" if base else ""),
        f"- task: {info.get('task', 'unknown')}; rewards: {rewards or 'unknown'}",
        f"- step: {step if step is not None else 'unknown'}"
        + (f" of {training['max_steps']}" if training.get("max_steps", -1) > 0 else ""),
    ]
    if training:
        lines.append("- GRPO: " + ", ".join(f"{k}={v}" for k, v in training.items()
                                            if k in ("learning_rate", "beta", "loss_type", "num_generations",
                                                     "max_completion_length", "temperature")))
    lines += ["", f"## Metrics at step {step if step is not None else '?'}", "",
              "The training batch logged at that step (not a held-out evaluation):", ""]
    if metrics:
        lines += ["| " + " | ".join(COLUMNS[c][0] for c in COLUMNS) + " |", "|" + "---|" * len(COLUMNS),
                  "| " + " | ".join("–" if c not in metrics else COLUMNS[c][2].format(metrics[c]) for c in COLUMNS)
                  + " |"]
    else:
        lines.append("(no trainer_state.json log at this step)")
    lines += ["", aha]
    if held_out:
        before, after = held_out.get("before", {}), held_out.get("after", {})
        lines += ["", "Held-out problems, sampled before and after the whole run (`held_out.json`):", "",
                  "| | before | after |", "|---|---|---|"]
        lines += [f"| {key} | {_number(before.get(key))} | {_number(after.get(key))} |" for key in before]
    # A tokenizer trained by this kit (the tiny CPU model's) must load from its tokenizer.json as is:
    # AutoTokenizer would rebuild a Qwen2 tokenizer and split numbers differently (scripts/lib/models.py).
    tokenizer_class = "TokenizersBackend" if tokenizer_json_is_authoritative(str(out)) else "AutoTokenizer"
    lines += ["", "## Use", "", "```python", f"from transformers import AutoModelForCausalLM, {tokenizer_class}", "",
              f"model = AutoModelForCausalLM.from_pretrained({str(out)!r})",
              f"tokenizer = {tokenizer_class}.from_pretrained({str(out)!r})",
              "# prompt with the recipe's template; generation_config.json samples as training did",
              "```", ""]
    return "\n".join(lines)


def export(ckpt, out) -> Path:
    """Write ``ckpt`` (a checkpoint, a final model folder or a LoRA adapter) to the new folder ``out``."""
    ckpt, out = Path(ckpt), Path(out)
    if not ckpt.is_dir():
        raise RunError(f"checkpoint folder not found: {ckpt} (e.g. CKPT=outputs/cpu_countdown_tiny/checkpoint-100; "
                       "`make checkpoints RUN=<run>` lists them)")
    if not ((ckpt / "config.json").is_file() or (ckpt / "adapter_config.json").is_file()):
        raise RunError(f"{ckpt} holds no model (no config.json or adapter_config.json): is it half-written?")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError(f"output folder exists and is not empty: {out} (pick a new OUT, or remove it first)")
    run = _run_dir(ckpt)
    info = run_info(run)
    step, metrics = checkpoint_metrics(ckpt, info)
    try:
        history = load_history(run)
    except RunError:
        history = []
    settings = aha_settings(info)
    found = detect_aha(history, **settings)
    aha = "Over the whole run, " + aha_line(found, settings)
    if found is not None and step is not None:
        aha += f"; this checkpoint is {'at or after' if step >= found.step else 'before'} it"
    held_out_file = ckpt / "held_out.json"
    held_out = read_json(held_out_file) if held_out_file.is_file() else None

    kind = model_kind(str(ckpt))
    model, tokenizer = load_trained(str(ckpt), kind)
    base = weights_source(str(ckpt), kind) if kind == "adapter" else None
    model.generation_config = generation_config(model, tokenizer, info.get("training", {}))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    (out / "README.md").write_text(model_card(ckpt, out, info, step, metrics, aha, base, held_out), encoding="utf-8")
    if info:  # `make eval` on the export takes its held-out settings from the run that wrote it
        (out / RUN_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
    return out
