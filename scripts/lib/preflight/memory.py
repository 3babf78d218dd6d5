"""A rough per-device memory estimate and parameter counts for a recipe's model, without loading it.

Used by the preflight's resources check; a GPU check can call the same functions.

>>> gib(3 * 2**30), count_text(1_500_000)
('3.00 GiB', '1.50 M')
"""

from __future__ import annotations

import os

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}


def dtype_bytes(dtype) -> int:
    return DTYPE_BYTES.get(str(dtype).replace("torch.", ""), 2)


def gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.2f} GiB" if n_bytes >= 2**27 else f"{n_bytes / 2**20:.1f} MiB"


def count_text(n: int) -> str:
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.2f} M"


def parameter_counts(model_config, peft_config=None) -> tuple[int, int]:
    """(all parameters, trainable parameters) of the recipe's model, built on the meta device (no memory)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(model_config)
        total = sum(p.numel() for p in model.parameters())
        if peft_config is None:
            return total, total
        from peft import get_peft_model

        model = get_peft_model(model, peft_config)
        return total, sum(p.numel() for p in model.parameters() if p.requires_grad)


def estimate_memory(model_config, n_params: int, trainable: int, training_args, seq_len: int,
                    weight_bytes: int, peft: bool, gpu_bytes: int = 0) -> dict[str, float]:
    """A rough per-device peak in bytes, by part. No ZeRO/FSDP sharding, no allocator fragmentation.

    Activations use Korthikanti et al. 2022 (34·s·b·h bytes per layer in 16-bit, attention scores
    not materialised as with SDPA/flash; 2·s·b·h per layer with checkpointing). Logits are left
    out: TRL 1.16 scores completions with a fused LM head that never materialises them whole.
    """
    args = training_args
    text_config = model_config.get_text_config() if hasattr(model_config, "get_text_config") else model_config
    layers = getattr(text_config, "num_hidden_layers", 0)
    hidden = getattr(text_config, "hidden_size", 0)
    heads = getattr(text_config, "num_attention_heads", 1) or 1
    kv_heads = getattr(text_config, "num_key_value_heads", None) or heads
    head_dim = getattr(text_config, "head_dim", None) or hidden // heads
    batch = args.per_device_train_batch_size
    generation_batch = (args.generation_batch_size or batch * (args.steps_per_generation or 1))
    optim = str(getattr(args.optim, "value", args.optim))
    parts = {
        "weights": n_params * weight_bytes,
        # beta > 0 keeps a frozen reference copy; with LoRA TRL disables the adapter instead.
        "reference model": n_params * weight_bytes if args.beta > 0 and not peft else 0,
        # peft keeps adapters in float32.
        "gradients": trainable * (4 if peft else weight_bytes),
        "optimizer": trainable * (2 if "8bit" in optim else 8),
    }
    if args.use_vllm and getattr(args, "vllm_mode", "server") == "colocate":
        parts["vLLM (colocate)"] = args.vllm_gpu_memory_utilization * gpu_bytes
    elif not args.use_vllm:
        parts["generation KV cache"] = generation_batch * seq_len * 2 * layers * kv_heads * head_dim * weight_bytes
    full_layer = 34 * seq_len * batch * hidden * (weight_bytes / 2)
    if args.activation_checkpointing:
        # Layer inputs kept, plus one layer's activations while it is recomputed.
        parts["activations"] = layers * full_layer / 17 + full_layer
    else:
        parts["activations"] = layers * full_layer
    return parts


def gpu_total() -> tuple[int, str] | None:
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    return props.total_memory, props.name


def ram_total() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
