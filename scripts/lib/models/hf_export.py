"""A checkpoint as a clean Hugging Face model folder: merged weights, tokenizer, generation config, model card.

The weights are saved as safetensors (a LoRA adapter merged into its base, loaded by
``scripts/lib/models/loading.py`` like every other model), the generation config samples like training did,
and ``README.md`` is a model card naming the recipe, the step and the metrics logged at that step
(read from the run's files, ``scripts/lib/runs/run_files.py``). Optimizer and RNG states are left behind.
"""

from __future__ import annotations

import json
from pathlib import Path

from data.loading import is_local
from scripts.lib.measure.aha import detect_aha
from scripts.lib.models.build_once import build_once
from scripts.lib.models.loading import load_trained, model_kind, weights_source
from scripts.lib.models.sampling import stop_token_ids
from scripts.lib.runs.run_files import (
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
    # Every id training stopped at (TRL: the tokenizer's eos, then the generation config's): Qwen2.5-Instruct's
    # <|endoftext|> would otherwise be dropped, and the exported model would write on where training stopped.
    stops = stop_token_ids(model, tokenizer)
    config.eos_token_id = stops if len(stops) > 1 else stops[0]
    config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if training.get("temperature"):
        config.do_sample = True
        config.temperature = training["temperature"]
        # TRL samples with no top-k/top-p cut unless the recipe sets one; transformers' own default is top_k=50.
        config.top_k = training.get("top_k") or 0
        config.top_p = training.get("top_p") if training.get("top_p") is not None else 1.0
    # GRPO sampled without the checkpoint's own penalty (TRL passes its repetition_penalty, 1.0 by default).
    config.repetition_penalty = training.get("repetition_penalty") or 1.0
    if training.get("max_completion_length"):
        config.max_new_tokens = training["max_completion_length"]
    return config


def standard_architecture(model, tokenizer_is_kits: bool):
    """The model under a name whose standard tokenizer loading reads its tokenizer.json as saved.

    transformers rebuilds a ``Qwen2Tokenizer`` for every ``model_type: qwen2`` folder, which drops the words
    and tags of a tokenizer trained by this kit (the CPU demo's word-level one). Llama with
    ``attention_bias`` is Qwen2's computation (bias on q/k/v; the o_proj bias it adds is zero), and for it
    ``AutoTokenizer`` honours ``tokenizer_class: TokenizersBackend``. Real Qwen tokenizers stay Qwen2.
    """
    if not tokenizer_is_kits or model.config.model_type != "qwen2":
        return model
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = model.config.to_dict()
    for key in ("model_type", "architectures", "layer_types", "use_sliding_window", "sliding_window",
                "max_window_layers", "transformers_version"):
        config.pop(key, None)
    llama = LlamaForCausalLM(LlamaConfig(**config, attention_bias=True, mlp_bias=False)).to(model.dtype).eval()
    state = dict(model.state_dict())
    for i in range(model.config.num_hidden_layers):
        state[f"model.layers.{i}.self_attn.o_proj.bias"] = torch.zeros(model.config.hidden_size, dtype=model.dtype)
    llama.load_state_dict(state, strict=True)
    probe = torch.arange(min(64, model.config.vocab_size, model.config.max_position_embeddings)).unsqueeze(0)
    with torch.no_grad():
        if not torch.equal(llama(probe).logits, model.eval()(probe).logits):
            raise RunError("export: the Llama form of this Qwen2 model does not give identical logits; not exported")
    llama.generation_config = model.generation_config
    return llama


def loading_mismatch(folder, texts, kit_tokenizer=None, kit_model=None, generate: int = 0,
                     max_new_tokens: int = 32) -> str | None:
    """None if the standard loaders read ``folder`` as the kit does, else one line saying where they differ.

    Standard loaders: ``AutoTokenizer.from_pretrained``, ``AutoModelForCausalLM.from_pretrained`` and
    ``pipeline("text-generation")``, nothing else. Compared: token ids and their decoding for every text,
    and greedy completions (ids and text, through the pipeline too) for the first ``generate`` texts.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    folder = str(folder)
    if kit_tokenizer is None or kit_model is None:
        kit_model, kit_tokenizer = load_trained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    saved = Path(folder) / "tokenizer.json"
    raw = None
    if saved.is_file():  # the saved tokenizer itself, read by the tokenizers library with nothing rebuilt
        from tokenizers import Tokenizer

        raw = Tokenizer.from_file(str(saved))
    for text in texts:
        ids, want = tokenizer(text)["input_ids"], kit_tokenizer(text)["input_ids"]
        if raw is not None and raw.encode(text).ids != want:
            return f"{folder}: training's tokenizer reads {text[:60]!r} differently from its own tokenizer.json"
        if ids != want:
            return (f"{folder}: AutoTokenizer ({type(tokenizer).__name__}) reads {text[:60]!r} as {len(ids)} ids, "
                    f"training read {len(want)}")
        if tokenizer.decode(ids) != kit_tokenizer.decode(want):
            return f"{folder}: AutoTokenizer decodes {text[:60]!r} differently from training"
        if kit_tokenizer.chat_template and (
                tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True)
                != kit_tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True)):
            return f"{folder}: AutoTokenizer's chat template renders {text[:60]!r} differently from training's"
    if not generate:
        return None
    model = AutoModelForCausalLM.from_pretrained(folder)
    generator = pipeline("text-generation", model=folder)
    greedy = {"do_sample": False, "max_new_tokens": max_new_tokens, "top_k": None, "top_p": None,
              "temperature": None}
    for text in texts[:generate]:
        ids = torch.tensor([kit_tokenizer(text)["input_ids"]])
        with torch.no_grad():
            want = kit_model.generate(ids, attention_mask=torch.ones_like(ids), **greedy)[0, ids.shape[1]:]
            got = model.generate(ids, attention_mask=torch.ones_like(ids), **greedy)[0, ids.shape[1]:]
        if not torch.equal(got, want):
            return f"{folder}: AutoModelForCausalLM's greedy completion of {text[:60]!r} differs from training's"
        want_text = kit_tokenizer.decode(want, skip_special_tokens=True)
        piped = generator(text, return_full_text=False, **greedy)[0]["generated_text"]
        if piped != want_text:
            return f"{folder}: pipeline('text-generation') completes {text[:60]!r} as {piped[:60]!r}, training: {want_text[:60]!r}"
    return None


def probe_texts(tokenizer) -> list[str]:
    """Texts that exercise every token of a small vocabulary (all of it, for the kit's word-level ones)."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    words = [w for w, _ in vocab if w not in tokenizer.all_special_tokens][:5000]
    return [" ".join(words[i:i + 50]) for i in range(0, len(words), 50)] + [
        "<think> 3 + 4 = 7 </think> <answer> 3 + 4 </answer>"]


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


def checked_line(texts: int, generate: int, llama: bool) -> str:
    """What ``export`` compared before writing the folder, as the model card says it: ``texts`` texts
    through the tokenizers, ``generate`` greedy completions, ``llama``: the Qwen2 -> Llama logits check.

    >>> checked_line(3, 0, False)
    '`make export` checked, before writing it, that `AutoTokenizer` reads 3 texts covering the vocabulary as training did (token ids, decoding, chat template if any); completions were not compared.'
    """
    parts = [f"`AutoTokenizer` reads {texts} texts covering the vocabulary as training did (token ids, decoding, "
             "chat template if any)"]
    if llama:
        parts.append("the Llama form of the weights gives training's logits exactly")
    if generate:
        parts.append(f"greedy completions of {generate} of them match training's")
    return ("`make export` checked, before writing it, that " + "; ".join(parts)
            + ("." if generate else "; completions were not compared."))


def model_card(ckpt: Path, out: Path, info: dict, step: int | None, metrics: dict, aha: str, base: str | None,
               held_out: dict | None, checked: str) -> str:
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
    lines += ["", "## Use", "",
              "Standard loading reads this folder as training did. " + checked, "", "```python", *use_lines(out),
              "# prompt with the recipe's template; generation_config.json samples as training did",
              "```", ""]
    return "\n".join(lines)


def use_lines(out) -> list[str]:
    """The lines that load an export, as the tests run them."""
    return ["from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline", "",
            f"tokenizer = AutoTokenizer.from_pretrained({str(out)!r})",
            f"model = AutoModelForCausalLM.from_pretrained({str(out)!r})",
            f"generator = pipeline(\"text-generation\", model={str(out)!r})"]


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
    # load_tokenizer gives a TokenizersBackend when tokenizer_config.json names TokenizersBackend or
    # PreTrainedTokenizerFast, as the kit's own tokenizers do (scripts/lib/models/loading.py)
    qwen2 = model.config.model_type == "qwen2"
    model = standard_architecture(model, type(tokenizer).__name__ == "TokenizersBackend")
    converted = qwen2 and model.config.model_type == "llama"  # standard_architecture compared the logits
    model.generation_config = generation_config(model, tokenizer, info.get("training", {}))

    def write(folder: Path) -> None:
        model.save_pretrained(str(folder))
        tokenizer.save_pretrained(str(folder))
        texts = probe_texts(tokenizer)
        generate = 0  # comparing completions loads the model twice more (AutoModel, pipeline): not cheap at 7B
        problem = loading_mismatch(folder, texts, tokenizer, model, generate=generate)
        if problem:
            raise RunError(f"export refused: {problem.replace(str(folder), str(out))}; load {ckpt} with "
                           "scripts/lib/models/loading.py load_trained instead")
        (folder / "README.md").write_text(model_card(ckpt, out, info, step, metrics, aha, base, held_out,
                                                     checked_line(len(texts), generate, converted)), encoding="utf-8")
        if info:  # `make eval` on the export takes its held-out settings from the run that wrote it
            (folder / RUN_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")

    # Written into a temporary folder beside OUT and renamed to OUT once whole (build_once): a failure or a
    # kill leaves no half-written OUT for someone to load.
    if not build_once(out, lambda folder: (folder / "README.md").is_file(), write):
        raise RunError(f"output folder {out} was written by another export meanwhile")
    return out
