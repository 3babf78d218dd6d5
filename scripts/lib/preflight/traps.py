"""Preflight's "setup" section: known traps of TRL's GRPO settings, each one line with its fix.

* vLLM colocated with PEFT hangs on several GPUs (TRL #3671: "often perform only one, but sometimes two
  or three iterations before hanging without any message. This issue happens only on multi-gpu setups").
* vLLM server mode with no server listening at ``vllm_server_host:vllm_server_port`` (a 1-second TCP
  connect, localhost only; TRL itself waits ``vllm_server_timeout`` seconds, then fails).
* A generation batch (``per_device_train_batch_size`` x GPUs x ``steps_per_generation``) that does not
  split into whole groups of ``num_generations`` on a common GPU count (1, 2, 4, 8): TRL checks only the
  count it is started with, so a recipe fine on 1 GPU can stop on 4. (TRL derives
  ``steps_per_generation`` from a recipe's ``generation_batch_size`` at the launch's count; the check
  keeps that value, as TRL keeps a recipe's ``steps_per_generation``.)
* Stop strings (``generation_kwargs: {stop: [...]}``) with ``mask_truncated_completions``: TRL calls a
  completion truncated when its last token is not EOS, so every completion a stop string ends is masked.

``find_traps`` returns the lines; ``resources.check_setup`` puts them in the report.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
# GPU counts a recipe is commonly launched on (recipes/README.md: 1 GPU, NPROC=4, NPROC=8).
COMMON_GPU_COUNTS = (1, 2, 4, 8)


def world_size() -> int:
    """Processes of this launch (torchrun / accelerate set WORLD_SIZE; 1 otherwise)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def server_address(training_args) -> tuple[str, int]:
    """(host, port) TRL's vLLM client connects to: ``vllm_server_base_url`` if set, else host and port."""
    base = getattr(training_args, "vllm_server_base_url", None)
    if base:
        url = urlparse(base)
        return url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    return training_args.vllm_server_host, int(training_args.vllm_server_port)


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def generation_split_problems(per_device: int, steps_per_generation: int, num_generations: int,
                              counts=COMMON_GPU_COUNTS) -> list[int]:
    """GPU counts on which ``per_device x GPUs x steps_per_generation`` completions are not whole groups.

    >>> generation_split_problems(per_device=6, steps_per_generation=1, num_generations=8)
    [1, 2]
    >>> generation_split_problems(per_device=8, steps_per_generation=16, num_generations=8)
    []
    """
    return [gpus for gpus in counts if (per_device * gpus * steps_per_generation) % num_generations]


def find_traps(training_args, model_args, processes: int | None = None) -> tuple[str, list[str], list[str]]:
    """The traps above for this recipe, on ``processes`` processes (default: this launch's; the launch's
    own count TRL has already checked when it parsed the recipe): (summary, failures, warnings)."""
    summary, failures, warnings = "", [], []
    processes = processes or world_size()
    use_vllm, mode = training_args.use_vllm, training_args.vllm_mode
    if use_vllm and mode == "colocate" and model_args.use_peft:
        line = ("vLLM colocated with PEFT hangs after 1-3 steps on several GPUs (TRL #3671): use vllm_mode: server "
                "(trl vllm-serve on its own GPU), or train on one GPU")
        (failures if processes > 1 else warnings).append(
            line if processes > 1 else line.replace("hangs", "runs on this one GPU but hangs", 1))
    if use_vllm and mode == "server":
        host, port = server_address(training_args)
        if host not in LOCAL_HOSTS:
            summary = f"vLLM server {host}:{port} not checked (not local)"
        elif not port_open(host, port):
            warnings.append(
                f"no vLLM server answers at {host}:{port} (vllm_mode: server): start it first, e.g. "
                f"`trl vllm-serve --model {model_args.model_name_or_path} --port {port}` on another GPU "
                f"(TRL waits vllm_server_timeout={getattr(training_args, 'vllm_server_timeout', 240):g} s, then fails)")
    # TRL keeps steps_per_generation (default: gradient_accumulation_steps) when the GPU count changes.
    steps = training_args.steps_per_generation or training_args.gradient_accumulation_steps
    bad = [n for n in generation_split_problems(training_args.per_device_train_batch_size, steps,
                                                training_args.num_generations) if n != processes]
    if bad:
        warnings.append(
            f"on {', '.join(map(str, bad))} GPU(s) the generation batch (per_device_train_batch_size "
            f"{training_args.per_device_train_batch_size} x GPUs x steps_per_generation {steps}) does not split into "
            f"groups of num_generations {training_args.num_generations}, and TRL stops at start-up there: make "
            "per_device_train_batch_size x steps_per_generation a multiple of num_generations")
    stops = (training_args.generation_kwargs or {}).get("stop") if isinstance(training_args.generation_kwargs, dict) \
        else None
    if stops and training_args.mask_truncated_completions:
        failures.append(
            f"generation_kwargs stop {stops} with mask_truncated_completions: TRL counts a completion as truncated "
            "when its last token is not EOS, so every completion a stop string ends would be masked: set "
            "mask_truncated_completions: false (or drop the stop strings)")
    if not summary:
        summary = "no known trap" if not (failures or warnings) else "known traps below"
    return summary, failures, warnings
