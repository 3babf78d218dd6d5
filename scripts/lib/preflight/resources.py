"""Preflight's "resources" and "setup" checks: parameters, LoRA and a rough per-device memory
estimate against the device (``memory``), and the known traps of the GRPO/vLLM/PEFT settings
(``traps``).
"""

from __future__ import annotations

from scripts.lib.preflight.memory import count_text, dtype_bytes, estimate_memory, gib, gpu_total, parameter_counts, ram_total
from scripts.lib.preflight.report import Section
from scripts.lib.preflight.traps import find_traps


def check_resources(model_config, training_args, model_args, longest_prompt_tokens: int, peft_config=None) -> Section:
    """Parameters and a rough memory estimate for model + LoRA + optimizer + generation vs the device
    (``peft_config``: the recipe's, ``R1ZeroArguments.peft_config``)."""
    section = Section("resources")
    n_params, trainable = parameter_counts(model_config, peft_config)
    dtype = model_args.dtype if model_args.dtype not in (None, "auto") else getattr(model_config, "dtype", None)
    weight_bytes = dtype_bytes(dtype or "bfloat16")
    seq_len = longest_prompt_tokens + training_args.max_completion_length
    gpu = None if training_args.use_cpu else gpu_total()
    parts = estimate_memory(model_config, n_params, trainable, training_args, seq_len, weight_bytes,
                            peft_config is not None, gpu[0] if gpu else 0)
    total = sum(parts.values())
    lora = f", LoRA r={model_args.lora_r}: {count_text(trainable)} trainable ({trainable / n_params:.1%})" \
        if peft_config is not None else ""
    biggest = sorted(parts.items(), key=lambda kv: -kv[1])[:3]
    detail = ", ".join(f"{k} {gib(v)}" for k, v in biggest)
    section.counts = {"parameters": n_params, "trainable": trainable, "estimate_bytes": total}
    if gpu:
        where = f"vs {gib(gpu[0])} on {gpu[1]}"
    else:
        ram = ram_total()
        where = "vs no GPU" + (f" ({gib(ram)} RAM)" if ram else "")
    section.summary = (f"{count_text(n_params)} parameters ({str(dtype).replace('torch.', '')}){lora}; "
                       f"rough peak per device {gib(total)} ({detail}) {where}")
    sharded = training_args.deepspeed or training_args.fsdp
    if gpu and total > gpu[0] and not sharded:
        advice = ["use_peft: true"] if peft_config is None else []
        if not training_args.activation_checkpointing:
            advice.append("activation_checkpointing: true")
        advice += [f"a smaller per_device_train_batch_size (now {training_args.per_device_train_batch_size})",
                   "optim: adamw_8bit"]
        section.warnings.append(f"the rough estimate {gib(total)} is over the GPU's {gib(gpu[0])}: likely OOM; "
                                f"try {', '.join(advice)}")
    if not gpu and not training_args.use_cpu:
        section.warnings.append("no GPU on this machine and use_cpu is not set")
    return section


def check_setup(training_args, model_args, processes: int | None = None) -> Section:
    """Known traps of the GRPO/vLLM/PEFT settings (``scripts/lib/preflight/traps.py``)."""
    summary, failures, warnings = find_traps(training_args, model_args, processes)
    return Section("setup", summary, warnings=warnings, failures=failures)
