"""What `make bench-faults` reads back: where a kill landed, and what a killed-and-resumed run left on disk.

A killed run is compared with an uninterrupted run of the same shape: the final weights (bit for bit),
the steps of every TensorBoard scalar as TensorBoard reads them (``EventAccumulator``, which drops the
steps a resumed run wrote again, after the purge mark the kit writes on resume), the records of
``health.jsonl`` and the steps of ``eval_history.jsonl``: none may be missing or appear twice.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path

# Function name (or a path fragment, for the optimizer) -> phase; a stack is read innermost frame first and
# the first frame that names a phase decides it.
PHASE_OF_FUNCTION = {
    "rotate_checkpoints": "rotation of old checkpoints", "_rotate_checkpoints": "rotation of old checkpoints",
    "_save_checkpoint": "checkpoint save", "save_model": "checkpoint save", "_save_rng_state": "checkpoint save",
    "_save_optimizer_and_scheduler": "checkpoint save", "save_to_json": "checkpoint save",
    "_calculate_rewards": "rewards",
    "generate": "generation", "_generate": "generation", "_generate_single_turn": "generation",
    "_get_per_token_logps_and_entropies": "log-probs (forward)",
    "backward": "backward",
    "_compute_loss": "loss (forward)", "compute_loss": "loss (forward)",
    "store_flos": "step bookkeeping (collective)",
    "on_log": "logging", "log": "logging",
    "evaluate": "held-out scoring", "held_out_scores": "held-out scoring",
    "_inner_training_loop": "training loop", "_run_epoch": "training loop",
}
HELD_OUT_FRAME = re.compile(r"scripts/lib/evaluation/")
FRAME = re.compile(r'File "([^"]+)", line \d+ in (\S+)')


def main_thread_frames(dump: str) -> list[tuple[str, str]]:
    """(file, function) of the main thread, innermost first, from faulthandler's all-threads dump."""
    blocks = re.split(r"\n\s*\n", dump.strip())
    main = next((b for b in blocks if "in <module>" in b), "")
    return FRAME.findall(main)


def landed(dump: str) -> tuple[str, str]:
    """(phase, innermost frame) of a stack dump; the phase of held-out scoring is named where it contains it."""
    frames = main_thread_frames(dump)
    if not frames:
        return "no stack (killed before Python ran, or the dump was lost)", "-"
    path, function = frames[0]
    innermost = f"{Path(path).name}:{function}"
    phase = None
    for path, function in frames:
        if "torch/optim" in path and function == "step":
            phase = phase or "optimizer step"
        elif function in PHASE_OF_FUNCTION:
            phase = phase or PHASE_OF_FUNCTION[function]
        if phase and HELD_OUT_FRAME.search(path) and phase != "held-out scoring":
            return f"{phase} (held-out scoring)", innermost
    return phase or "other", innermost


def tensorboard_steps(output_dir: Path) -> tuple[int, dict[str, list[int]]]:
    """(number of TensorBoard run folders, tag -> steps as TensorBoard shows them) of a run's ``runs/``."""
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    # TensorBoard logs each purge it applies (the resumed run's steps replacing the killed attempt's) as a warning.
    logging.getLogger("tensorboard").setLevel(logging.ERROR)

    folders = sorted({p.parent for p in (output_dir / "runs").rglob("events.out.tfevents.*")})
    steps: dict[str, list[int]] = {}
    for folder in folders:
        events = EventAccumulator(str(folder), size_guidance={SCALARS: 0})  # purge_orphaned_data on, as in TensorBoard
        events.Reload()
        for tag in events.Tags()["scalars"]:
            steps.setdefault(tag, []).extend(e.step for e in events.Scalars(tag))
    return len(folders), steps


def _jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def health_records(output_dir: Path) -> list[tuple]:
    return [(r.get("step"), r.get("check")) for r in _jsonl(output_dir / "health.jsonl")]


def eval_steps(output_dir: Path) -> list[int]:
    return [r.get("step") for r in _jsonl(output_dir / "eval_history.jsonl")]


def log_problems(killed: Path, straight: Path) -> list[str]:
    """What the killed run's logs lack or repeat, compared with the uninterrupted run's (empty: nothing)."""
    problems = []
    folders, steps = tensorboard_steps(killed)
    _, expected = tensorboard_steps(straight)
    if folders != 1:
        problems.append(f"TensorBoard: {folders} run folders (one run should show as one)")
    for tag in sorted(set(steps) | set(expected)):
        got, want = Counter(steps.get(tag, [])), Counter(expected.get(tag, []))
        twice = sorted(s for s in got if got[s] > max(want[s], 1))
        missing, extra = sorted(want - got), sorted(got - want)
        if twice or missing or extra:
            problems.append(f"TensorBoard {tag}: twice {twice[:5]}, missing {missing[:5]}, extra {extra[:5]}")
    for name, got, want in (("health.jsonl", health_records(killed), health_records(straight)),
                            ("eval_history.jsonl", eval_steps(killed), eval_steps(straight))):
        if got != want:
            problems.append(f"{name}: {got[:8]} where the uninterrupted run has {want[:8]}")
    return problems


def tensorboard_values(output_dir: Path) -> dict[str, dict[int, float]]:
    """tag -> step -> value, as TensorBoard shows them."""
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    logging.getLogger("tensorboard").setLevel(logging.ERROR)
    values: dict[str, dict[int, float]] = {}
    for folder in sorted({p.parent for p in (output_dir / "runs").rglob("events.out.tfevents.*")}):
        events = EventAccumulator(str(folder), size_guidance={SCALARS: 0})
        events.Reload()
        for tag in events.Tags()["scalars"]:
            values.setdefault(tag, {}).update({e.step: e.value for e in events.Scalars(tag)})
    return values


def first_divergence(killed: Path, straight: Path, tags=("train/loss", "train/kl", "train/entropy")) -> int | None:
    """The first step whose loss, KL or entropy differs from the uninterrupted run's (None: none does)."""
    got, want = tensorboard_values(killed), tensorboard_values(straight)
    steps = [s for tag in tags for s, v in want.get(tag, {}).items() if got.get(tag, {}).get(s) != v]
    return min(steps, default=None)


def log_summary(output_dir: Path) -> str:
    """The counts the checks covered, for the report (so an empty check is visible as one)."""
    _, steps = tensorboard_steps(output_dir)
    return (f"{len(steps)} TensorBoard scalar tags, {sum(map(len, steps.values()))} points; "
            f"{len(health_records(output_dir))} health.jsonl records; {len(eval_steps(output_dir))} eval_history.jsonl records")


def weights_diff(a: Path, b: Path) -> float:
    from safetensors.torch import load_file

    x, y = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    if x.keys() != y.keys():
        return float("inf")
    return max(float((x[k].double() - y[k].double()).abs().max()) for k in x)
