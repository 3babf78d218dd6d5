"""Building the tiny base once per machine: the cache key, ``is_built``, ``build_tiny_base`` and the
plan-driven entry (``build_base_if_needed``) that ``make train`` and ``scripts/build_tiny_base.py`` call
before any model is loaded.

A base is cached in its folder with ``tiny_base_build.json``; its key is everything that decides
the weights and tokenizer (the base recipe and the task), so a changed recipe rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

from data.countdown import countdown_question, countdown_splits
from data.prompts import build_r1_zero_prompt
from scripts.lib.process.console import say
from scripts.lib.recipe.cli import UserError
from scripts.lib.models.build_once import build_once
from scripts.lib.models.tiny_base.audit import audit_base
from scripts.lib.models.tiny_base.config import TinyBaseConfig
from scripts.lib.models.tiny_base.corpus import build_corpus
from scripts.lib.models.tiny_base.model import make_model, train_tokenizer
from scripts.lib.models.tiny_base.pretrain import encode_corpus, pretrain
from scripts.lib.models.tiny_base.task import TinyBasePlan

BUILD_INFO = "tiny_base_build.json"


# Settings that judge the base (the audit's length, the gate) or pace the build, and leave the
# weights and tokenizer as they are: changing them does not rebuild the base.
NOT_IN_KEY = ("audit_max_tokens", "gate_hit_ratio", "gate_go_back", "on_failed_gate", "num_threads")


def held_out_pool(cfg: TinyBaseConfig, task: dict) -> int:
    """How many problems of the training recipe's held-out stream pretraining leaves out: its held-out
    set and the audit's prompts (the first of that stream), so a smaller ``holdout_size`` reuses the base."""
    return max(task["test_size"], cfg.audit_samples)


def build_key(cfg: TinyBaseConfig, task: dict) -> str:
    """What decides the base's weights and tokenizer: the base recipe and the task, ``holdout_size``
    only through the held-out problems pretraining leaves out (``held_out_pool``)."""
    base = {key: value for key, value in asdict(cfg).items() if key not in NOT_IN_KEY}
    if base["search_order"] == "random":
        del base["search_order"]   # the order every base had before the setting existed: those stay current
    task = {**task, "test_size": held_out_pool(cfg, task)}
    payload = json.dumps({"base": base, "task": task, "version": 4}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def is_built(out_dir: str | Path, cfg: TinyBaseConfig, task: dict) -> bool:
    info = Path(out_dir) / BUILD_INFO
    if not info.is_file() or not (Path(out_dir) / "model.safetensors").is_file():
        return False
    try:
        return json.loads(info.read_text()).get("key") == build_key(cfg, task)
    except (OSError, json.JSONDecodeError):
        return False


def build_tiny_base(out_dir: str | Path, cfg: TinyBaseConfig, task: dict, progress: bool = True) -> Path:
    """Generate the corpus, train tokenizer and model, save all under ``out_dir``.

    ``task`` holds the Countdown settings and template of the training recipe, so the base is
    pretrained on the same kind of problems and prompt, and never on a held-out problem.
    """
    started = time.time()
    out_dir = Path(out_dir)
    countdown = dict(task["countdown"])
    ops = countdown.get("ops", "+-*")
    # The same split as training (same seed): pretraining problems exclude the held-out ones.
    _, held_out = countdown_splits(0, held_out_pool(cfg, task), seed=task["seed"], **countdown)
    excluded = {(tuple(sorted(r["nums"])), r["target"]) for r in held_out}
    problems, _ = countdown_splits(cfg.corpus_size, 0, seed=cfg.seed + 1, **countdown)
    problems = [r for r in problems if (tuple(sorted(r["nums"])), r["target"]) not in excluded]

    corpus = build_corpus(cfg, problems, task["template"], ops, task["question_style"])
    tokenizer = train_tokenizer((p + c for p, c, _ in corpus), cfg.number_range)
    model = make_model(cfg, tokenizer)
    examples = encode_corpus(corpus, tokenizer, cfg)
    trained_at = time.time()
    loss = pretrain(model, examples, cfg, tokenizer.pad_token_id, progress=progress) if cfg.steps else None
    pretrain_seconds = time.time() - trained_at
    audit = None
    if cfg.audit_samples and cfg.steps and held_out:
        rows = [{"prompt": build_r1_zero_prompt(countdown_question(r["nums"], r["target"], task["question_style"]),
                                                task["template"]), "nums": r["nums"], "target": r["target"]}
                for r in held_out[:cfg.audit_samples]]
        audit = audit_base(model, tokenizer, rows, cfg, seed=cfg.seed)
        # Loud on purpose: a base that fails the gate gives GRPO nothing to amplify.
        print(("" if audit["gate"] else "WARNING: ") + audit["gate_line"], flush=True)

    # Written in place: callers that share the folder build into a temporary one (scripts/lib/models/build_once.py).
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    info = {"key": build_key(cfg, task), "config": asdict(cfg), "task": task, "final_loss": loss,
            "params": sum(p.numel() for p in model.parameters()), "seconds": round(time.time() - started, 1),
            "examples": len(examples), "pretrain_seconds": round(pretrain_seconds, 1),
            "audit": None if audit is None else {k: v for k, v in audit.items() if not isinstance(v, dict)}}
    (out_dir / BUILD_INFO).write_text(json.dumps(info, indent=2))
    return out_dir


def ensure_tiny_base(out_dir, cfg: TinyBaseConfig, task: dict, progress: bool = True, on_build=None) -> bool:
    """The tiny base in ``out_dir``, built once however many processes or runs ask at once
    (``scripts/lib/models/build_once.py``); True when this process built it."""
    return build_once(out_dir, lambda path: is_built(path, cfg, task),
                      lambda folder: build_tiny_base(folder, cfg, task, progress=progress), on_build=on_build)


def is_current(plan: TinyBasePlan) -> bool:
    """The plan's base is built in its folder, for its recipe and task."""
    return is_built(plan.folder, plan.config, plan.task)


class BaseGateError(UserError):
    """The tiny base failed its audit gate and its recipe says ``on_failed_gate: stop``, or
    ``on_failed_gate`` is neither stop nor warn."""


def failed_gate(plan: TinyBasePlan) -> str | None:
    """Why the plan's built base fails its audit gate, judged by the recipe's gate now (its thresholds are
    not in the cache key), in one phrase with the numbers; None if it passes or was built without an audit."""
    audit = json.loads((Path(plan.folder) / BUILD_INFO).read_text()).get("audit")
    if not audit:
        return None
    cfg = plan.config
    ratio, back = (float("nan") if audit.get(key) is None else audit[key]
                   for key in ("hit_ratio", "p_go_back_given_failed"))
    if ratio >= cfg.gate_hit_ratio and back >= cfg.gate_go_back:
        return None
    return (f"tiny base model {plan.folder} FAILED its audit gate: going back after a failed check finds a true "
            f"solution inside <think> x{ratio:.1f} as often as the rest (gate x{cfg.gate_hit_ratio:g}), "
            f"P(go back | failed check) {back:.3f} (gate {cfg.gate_go_back:g}), {audit.get('n', '?')} prompts: "
            "its search does not pay, so GRPO has little to amplify")


def build_base_if_needed(plan: TinyBasePlan, progress: bool = True) -> None:
    """Build (or rebuild, if its recipe changed) the tiny offline base model the recipe points to, and hold
    it to its audit gate every time, built or cached (``on_failed_gate`` in its recipe)."""
    if plan.config.on_failed_gate not in ("stop", "warn"):
        raise BaseGateError(f"{plan.recipe}: on_failed_gate is {plan.config.on_failed_gate!r}; use stop or warn")
    built = ensure_tiny_base(
        plan.folder, plan.config, plan.task, progress=progress,
        on_build=lambda: print(f"tiny base model: building into {plan.folder} from {plan.recipe} "
                               "(once; cached after)", flush=True))
    if not built:
        say(f"tiny base model: cached at {plan.folder}")
    if (failed := failed_gate(plan)) is None:
        return
    if plan.config.on_failed_gate == "stop":
        raise BaseGateError(f"{failed}. Rebuild it from a changed {plan.recipe} (python -m scripts.build_tiny_base "
                            f"--config RECIPE --force), or set on_failed_gate: warn there to train on it anyway")
    if not built:  # a fresh build has just printed its audit line
        say(f"WARNING: {failed} (on_failed_gate: warn in {plan.recipe}: used anyway)")
