"""A tiny "base model" for the offline CPU demo: tokenizer, synthetic corpus, Qwen2 model, pretraining.

Real R1-Zero starts from a base model that already, now and then, writes reasoning, checks a step,
or uses the answer tags; RL amplifies what pays. This module makes a ~1 M-parameter model with
that property for Countdown, in a few minutes on a laptop CPU:

* a word-level tokenizer built here: every integer in range, each tag, operator and keyword is one
  token (arithmetic over digit pieces is much harder for a model this small);
* a deliberately imperfect corpus: most traces are **lazy** (a bare guess, or one *unchecked* try
  answered as is: ``<think> 3 + 4 = 7 , 7 * 2 = 14 </think>``); a few **search**: each try is
  checked against the target and either confirmed (``… = 18 vs 18 ok``, stop) or failed
  (``… = 14 vs 18 wait``), after which the trace goes back (``recheck ;``) and tries another
  expression; if no try hits, it answers with the closest, so every check in the corpus is true;
  and most traces are not in the exact ``<think>…</think> <answer>…</answer>`` format;
* a ``Qwen2ForCausalLM`` (config from transformers) pretrained on it with a plain torch loop, the
  loss weighted up on the tokens that make search competent (each computed value, the check
  verdict, the decision to go back, the stop after a confirmed hit).

Lazy tries are unchecked on purpose: a checked try answered anyway (``14 vs 18 wait </think>``)
teaches "answer after a failed check", which suppresses going back, the behaviour RL should grow.
The numbers (sizes, shares, weights, steps) live in ``recipes/tiny_base/*.yaml``; the build is
``python -m scripts.build_tiny_base`` and ``make train`` runs it when the cached base is missing.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from data.countdown import countdown_question, countdown_splits
from data.prompts import build_r1_zero_prompt
from rewards import countdown_reward, format_reward
from scripts.lib.measure.reflection import analyze_countdown_completion, reflection_verdict, summarize_reflection
from scripts.lib.models.sampling import sample_completions
from scripts.lib.measure.trace_grammar import CONFIRMED, EQ, FAILED, GO_BACK, GUESS, JOIN, NEXT, VS, calc

TAGS = ["<think>", "</think>", "<answer>", "</answer>"]
EOS = "<|endoftext|>"
UNK = "[UNK]"
BUILD_INFO = "tiny_base_build.json"


@dataclass
class TinyBaseConfig:
    """Everything that decides the tiny base model. Each default equals recipes/tiny_base/countdown.yaml
    (tests/test_tiny_base.py checks it), so a default can never silently become part of the model."""

    seed: int = field(default=0, metadata={"help": "Seed for the corpus, the init and the data order."})
    # Model (Qwen2 architecture)
    hidden_size: int = field(default=128, metadata={"help": "Transformer width."})
    intermediate_size: int = field(default=384, metadata={"help": "MLP width."})
    num_hidden_layers: int = field(default=4, metadata={"help": "Transformer layers."})
    num_attention_heads: int = field(default=4, metadata={"help": "Attention heads."})
    max_position_embeddings: int = field(default=256, metadata={"help": "Longest prompt + completion."})
    number_range: list[int] = field(
        default_factory=lambda: [-100, 999],
        metadata={"help": "Lowest and highest integer that get a token of their own (the word-level "
                  "vocabulary is these, the tags, and every other word of the corpus)."},
    )
    # Corpus
    corpus_size: int = field(default=60_000, metadata={"help": "Synthetic traces to pretrain on."})
    search_share: float = field(default=0.25, metadata={"help": "Share of traces that search and check."})
    search_hit_rate: float = field(
        default=1.0,
        metadata={"help": "Share of search traces that find a solution (at a uniformly random try, and stop "
                  "there); the rest miss on every try and give up at their try budget, answering the closest."},
    )
    near_miss_share: float = field(
        default=0.0,
        metadata={"help": "Share of a search's missed tries drawn from the three closest to the target "
                  "(hard cases for the verdict: `19 vs 20 wait`); the rest at random."},
    )
    guess_share: float = field(default=0.5, metadata={"help": "Share of lazy traces that are a bare guess "
                                                             "(the rest: one unchecked try)."})
    exact_format_share: float = field(default=0.15, metadata={"help": "Share of traces in the exact tag format."})
    min_tries: int = field(default=3, metadata={"help": "Fewest tries in a search trace."})
    max_tries: int = field(default=7, metadata={"help": "Most tries in a search trace."})
    # Loss weights (1.0 on every other completion token, 0 on the prompt)
    check_loss_weight: float = field(
        default=8.0,
        metadata={"help": "Loss weight of the check verdict (`ok`/`wait` after `v vs t`): without it the "
                  "base mis-compares values and its search is no better than guessing."},
    )
    go_back_loss_weight: float = field(
        default=8.0,
        metadata={"help": "Loss weight of the token after a failed check (`recheck`, or `</think>` when the "
                  "search gives up): the decision RL should learn to take more often."},
    )
    stop_loss_weight: float = field(
        default=8.0, metadata={"help": "Loss weight of the token after a confirmed check (`</think>`)."})
    value_loss_weight: float = field(
        default=4.0,
        metadata={"help": "Loss weight of every computed value, its copy into the next step and the "
                  "target written after `vs`: makes the arithmetic reliable (errors 26 % -> ~1 %)."},
    )
    answer_loss_weight: float = field(
        default=1.0, metadata={"help": "Loss weight of the numbers and operators copied into <answer>."})
    # Pretraining
    steps: int = field(default=1600, metadata={"help": "Optimizer steps."})
    batch_size: int = field(default=64, metadata={"help": "Sequences per step."})
    learning_rate: float = field(default=2e-3, metadata={"help": "Peak AdamW learning rate."})
    warmup_steps: int = field(default=100, metadata={"help": "Linear warmup, then cosine decay."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    num_threads: int = field(default=0, metadata={"help": "torch threads (0: leave torch's default)."})
    # Audit (after pretraining: does the base's own search pay? RL can only amplify what does)
    audit_samples: int = field(
        default=512, metadata={"help": "Held-out prompts sampled at T=1 to audit the base (0: no audit)."})
    audit_max_tokens: int = field(default=192, metadata={"help": "Longest audited completion, in tokens."})
    gate_hit_ratio: float = field(
        default=3.0,
        metadata={"help": "Gate: completions that go back after a failed check must find a true, confirmed "
                  "solution inside <think> at least this many times as often as the rest."},
    )
    gate_go_back: float = field(default=0.2, metadata={"help": "Gate: lowest P(go back | failed check)."})


# --------------------------------------------------------------------------- traces


def _chains(nums: list[int], ops: str):
    """Every ``(x o y) o z`` over a permutation of the numbers, as (x, o1, y, m, o2, z, v).

    ``3 + 2`` and ``2 + 3`` are one chain (the smaller number first), so a search never repeats itself.
    """
    seen = set()
    for x, y, z in itertools.permutations(nums, 3):
        for o1, o2 in itertools.product(ops, repeat=2):
            if o1 in "+*" and x > y:
                x_, y_ = y, x
            else:
                x_, y_ = x, y
            key = (x_, o1, y_, o2, z)
            if key in seen:
                continue
            seen.add(key)
            m = calc(x_, o1, y_)
            yield x_, o1, y_, m, o2, z, calc(m, o2, z)


class _Words:
    """A completion built word by word, with the loss weight of each weighted word's first character."""

    def __init__(self):
        self.text = ""
        self.weights: list[tuple[int, float]] = []

    def add(self, *words, weight: float = 1.0) -> None:
        for word in words:
            self.text += " "
            if weight != 1.0:
                self.weights.append((len(self.text), weight))
            self.text += str(word)


def _write_try(out: _Words, c, cfg: TinyBaseConfig) -> None:
    """`` x o y = m , m o z = v``: the computed values and the copy of m weighted up."""
    x, o1, y, m, o2, z, v = c
    w = cfg.value_loss_weight
    out.add(x, o1, y, EQ)
    out.add(m, weight=w)
    out.add(JOIN)
    out.add(m, weight=w)
    out.add(o2, z, EQ)
    out.add(v, weight=w)


def _write_check(out: _Words, value: int, target: int, cfg: TinyBaseConfig) -> bool:
    """`` vs t ok`` or `` vs t wait``; True if confirmed. The target is written beside the value
    because comparing two adjacent numbers is learnable by a tiny model; recalling the target from
    the prompt mid-decision was not."""
    out.add(VS)
    out.add(target, weight=cfg.value_loss_weight)
    hit = value == target
    out.add(CONFIRMED if hit else FAILED, weight=cfg.check_loss_weight)
    return hit


def _pick_misses(rng: random.Random, misses: list, target: int, n: int, near_share: float) -> list:
    """``n`` distinct missing tries; each, with probability ``near_share``, one of the three closest
    to the target left (hard negatives: ``19 vs 20 wait``), else any."""
    left, picked = list(misses), []
    for _ in range(n):
        if rng.random() < near_share:
            pool = sorted(left, key=lambda c: abs(c[-1] - target))[:3]
        else:
            pool = left
        c = rng.choice(pool)
        left.remove(c)
        picked.append(c)
    return picked


def make_trace(rng: random.Random, nums: list[int], target: int, cfg: TinyBaseConfig, ops: str):
    """(completion text, [(char offset, loss weight)]): a search or a lazy trace, maybe malformed.

    Each offset is where a weighted word starts in the text; unlisted words weigh 1.
    """
    chains = list(_chains(nums, ops))
    think = _Words()
    if rng.random() < cfg.search_share:
        k = min(len(chains), rng.randint(cfg.min_tries, cfg.max_tries))
        hits = [c for c in chains if c[-1] == target]
        misses = [c for c in chains if c[-1] != target]
        # Half-and-half (search_hit_rate): a solution at a uniformly random try, stopped at; or
        # k misses and a give-up. Either way `ok` follows only `t vs t`, so the verdict is a function
        # of the two written numbers, never of how long the search has run.
        n_miss = rng.randrange(k) if hits and rng.random() < cfg.search_hit_rate else k
        tries = _pick_misses(rng, misses, target, min(n_miss, len(misses)), cfg.near_miss_share)
        if n_miss < k and hits:
            tries.append(rng.choice(hits))
        answer = None
        for i, c in enumerate(tries):
            if i:
                think.add(GO_BACK, weight=cfg.go_back_loss_weight)  # the reflection: go back, try again
                think.add(NEXT)
            _write_try(think, c, cfg)
            if _write_check(think, c[-1], target, cfg):
                answer = c
                break
        if answer is None:
            # No try hit: give up at the try budget and answer the closest; every check stays true.
            answer = min(tries, key=lambda c: abs(c[-1] - target))
        after_think = cfg.stop_loss_weight if answer[-1] == target else cfg.go_back_loss_weight
    elif rng.random() < cfg.guess_share:
        think.add(GUESS)
        answer, after_think = rng.choice(chains), 1.0
    else:
        # Lazy: one try, unchecked, answered as is.
        answer, after_think = rng.choice(chains), 1.0
        _write_try(think, answer, cfg)

    x, o1, y, _, o2, z, _ = answer
    body = _Words()
    body.add("<answer>")
    for word in ("(", x, o1, y, ")", o2, z):
        body.add(word, weight=1.0 if word in ("(", ")") else cfg.answer_loss_weight)
    style = "exact" if rng.random() < cfg.exact_format_share else rng.choice(
        ["no_close_think", "no_answer_tags", "junk_after", "no_open_think", "answer_only", "unclosed_answer"]
    )
    if style == "answer_only":
        body.add("</answer>")
        return body.text, body.weights
    out = _Words()
    if style != "no_open_think":
        out.add("<think>")
    shift = len(out.text)
    out.text += think.text
    out.weights += [(shift + o, w) for o, w in think.weights]
    if style != "no_close_think":
        out.add("</think>", weight=after_think)
    if style == "no_answer_tags":
        body.text, body.weights = body.text[len(" <answer>"):], [(o - len(" <answer>"), w) for o, w in body.weights]
    elif style != "unclosed_answer":
        body.add("</answer>")
    shift = len(out.text)
    out.text += body.text
    out.weights += [(shift + o, w) for o, w in body.weights]
    if style == "junk_after":
        out.add(rng.choice(["done", "ok", str(answer[-1])]))
    return out.text, out.weights


def build_corpus(cfg: TinyBaseConfig, problems: list[dict], template: str, ops: str, question_style: str = "full"):
    """(prompt, completion, [(char offset, loss weight)]) for each problem."""
    rng = random.Random(cfg.seed)
    corpus = []
    for row in problems:
        prompt = build_r1_zero_prompt(countdown_question(row["nums"], row["target"], question_style), template)
        completion, weights = make_trace(rng, row["nums"], row["target"], cfg, ops)
        corpus.append((prompt, completion, weights))
    return corpus


# --------------------------------------------------------------------------- tokenizer and model


def train_tokenizer(texts, number_range=(-100, 999)):
    """A word-level tokenizer: split on whitespace, one token per word of ``texts`` and per integer in range.

    Every value a trace computes is one token, so ``3 * 6 = 18`` is four tokens the model can learn
    as a table; a byte-level BPE splits numbers into pieces and makes the arithmetic much harder
    for a 1 M-parameter model. Words not seen in the corpus map to ``[UNK]``. Tags are ordinary
    (not special) tokens: TRL decodes completions with ``skip_special_tokens=True``.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    lo, hi = number_range
    numbers = [str(i) for i in range(lo, hi + 1)]
    words = set()
    for text in texts:
        words.update(text.split())
    words -= set(numbers) | set(TAGS) | {EOS, UNK}
    vocab = {w: i for i, w in enumerate([EOS, UNK, *TAGS, *numbers, *sorted(words)])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS, unk_token=UNK,
                                   padding_side="left")


def make_model(cfg: TinyBaseConfig, tokenizer):
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(cfg.seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_attention_heads, max_position_embeddings=cfg.max_position_embeddings,
        tie_word_embeddings=True, bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    # Sampling like TRL samples (transformers' generate defaults to top_k=50).
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=True,
        temperature=1.0, top_k=0, top_p=1.0,
    )
    return model


# --------------------------------------------------------------------------- pretraining


def encode_corpus(corpus, tokenizer, cfg: TinyBaseConfig):
    """Token ids and per-token loss weights: 0 on the prompt, 1 on the completion, more where the corpus says."""
    examples = []
    # Batch encoding runs in the tokenizer's Rust threads: ~10x faster than one call per trace.
    prompts = tokenizer([p for p, _, _ in corpus], add_special_tokens=False)["input_ids"]
    completions = tokenizer([c for _, c, _ in corpus], add_special_tokens=False, return_offsets_mapping=True)
    for prompt_ids, completion_ids, offsets, (_, _, weighted) in zip(
            prompts, completions["input_ids"], completions["offset_mapping"], corpus):
        ids = prompt_ids + completion_ids + [tokenizer.eos_token_id]
        weights = [0.0] * len(prompt_ids) + [1.0] * (len(completion_ids) + 1)
        token_at = {start: k for k, (start, _) in enumerate(offsets)}
        for offset, weight in weighted:
            if offset in token_at:
                weights[len(prompt_ids) + token_at[offset]] = weight
        if len(ids) <= cfg.max_position_embeddings:
            examples.append((ids, weights))
    return examples


def pretrain(model, examples, cfg: TinyBaseConfig, pad_id: int, progress: bool = True):
    """Plain next-token pretraining, batches bucketed by length. Returns the last smoothed loss."""
    import torch
    from tqdm.auto import tqdm

    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    rng = random.Random(cfg.seed)
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    batches = [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay,
                                  betas=(0.9, 0.95))

    def lr_at(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress_ = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress_)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    # One constant normalizer (the mean batch's loss weight), not each batch's own: batches are
    # bucketed by length, and dividing by a batch's weight would make a token in a batch of short
    # traces (guesses) count ~10x a token in a batch of long ones (searches); the base would then
    # choose "guess" far more often than its corpus does (62 % vs 40 % measured) and search rarely.
    norm = cfg.batch_size * sum(sum(w) for _, w in examples) / max(1, len(examples))
    model.train()
    smoothed = None
    bar = tqdm(range(cfg.steps), desc="pretraining tiny base", disable=not progress, unit="step")
    for step in bar:
        batch = [examples[i] for i in batches[rng.randrange(len(batches))]]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        weights = torch.zeros((len(batch), width))
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (ids, w) in enumerate(batch):
            input_ids[row, :len(ids)] = torch.tensor(ids)
            weights[row, :len(ids)] = torch.tensor(w)
            attention[row, :len(ids)] = 1
        hidden = model.model(input_ids=input_ids, attention_mask=attention).last_hidden_state[:, :-1]
        targets, w = input_ids[:, 1:], weights[:, 1:]
        # The vocabulary projection and softmax only where there is loss (the completion): the
        # prompt is ~40 % of the tokens, and this is a third of the step's time.
        keep = w > 0
        logits = model.lm_head(hidden[keep])
        token_loss = torch.nn.functional.cross_entropy(logits, targets[keep], reduction="none")
        loss = (token_loss * w[keep]).sum() / norm
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        smoothed = loss.item() if smoothed is None else 0.95 * smoothed + 0.05 * loss.item()
        if step % 20 == 0:
            bar.set_postfix(loss=f"{smoothed:.3f}")
    model.eval()
    return smoothed


# --------------------------------------------------------------------------- build + cache


# --------------------------------------------------------------------------- audit


def audit_base(model, tokenizer, rows: list[dict], cfg: TinyBaseConfig, seed: int = 0) -> dict:
    """Sample each held-out prompt once at T=1 and measure whether the base's search pays.

    Returns ``scripts.lib.measure.reflection.summarize_reflection``'s numbers plus ``verdict`` (absent / present
    but does not pay / present and pays), ``gate`` (True if both gate thresholds are met) and
    ``gate_line``, a one-line report. Accuracy among well-formatted completions is reported next
    to plain accuracy: a base's broken format hides what its search finds.
    """
    prompts = [r["prompt"] for r in rows]
    texts, lengths = sample_completions(model, tokenizer, prompts, cfg.audit_max_tokens, temperature=1.0, seed=seed)
    formats = format_reward(texts, prompts=prompts)
    correct = countdown_reward(texts, nums=[r["nums"] for r in rows], target=[r["target"] for r in rows])
    records = [analyze_countdown_completion(t, r["target"], r["nums"], correct=c, formatted=f)
               for t, r, c, f in zip(texts, rows, correct, formats)]
    summary = summarize_reflection(records, split="searched")  # tries-based: the base writes no phrases
    summary["mean_length"] = sum(lengths) / max(1, len(lengths))
    verdict, numbers = reflection_verdict(summary)
    ratio, back = summary.get("hit_ratio", float("nan")), summary.get("p_go_back_given_failed", float("nan"))
    gate = ratio >= cfg.gate_hit_ratio and back >= cfg.gate_go_back
    line = (f"base audit ({len(rows)} held-out prompts, T=1): reflection {verdict}; "
            f"{'PASSES' if gate else 'FAILS'} the gate: true hit inside <think> "
            f"{summary.get('hit_in_think_searching', float('nan')):.3f} when going back vs "
            f"{summary.get('hit_in_think_rest', float('nan')):.3f} otherwise (x{ratio:.1f}, gate x{cfg.gate_hit_ratio:g}), "
            f"P(go back | failed check) {back:.3f} (gate {cfg.gate_go_back:g}); go-back share "
            f"{summary['searched_share']:.3f}, accuracy {summary['accuracy']:.3f} "
            f"({summary.get('accuracy_well_formatted', float('nan')):.3f} among well-formatted, format "
            f"{summary.get('format', float('nan')):.3f}), honest checks {summary.get('honest_checks', float('nan')):.3f}, "
            f"arithmetic errors {summary.get('arithmetic_error_rate', float('nan')):.3f} of tries; "
            f"final ok true {summary.get('final_ok_true', float('nan')):.3f} of "
            f"{summary.get('searches_stopping_on_ok', 0)} searches stopping on one, "
            f"searches without a true hit {summary.get('searches_without_hit', float('nan')):.3f}")
    return {**summary, "verdict": verdict, "verdict_numbers": numbers, "gate": gate, "gate_line": line}


# Settings that judge the base (the audit's length, the gate) or pace the build, and leave the
# weights and tokenizer as they are: changing them does not rebuild the base.
NOT_IN_KEY = ("audit_max_tokens", "gate_hit_ratio", "gate_go_back", "num_threads")


def held_out_pool(cfg: TinyBaseConfig, task: dict) -> int:
    """How many problems of the training recipe's held-out stream pretraining leaves out: its held-out
    set and the audit's prompts (the first of that stream), so a smaller ``holdout_size`` reuses the base."""
    return max(task["test_size"], cfg.audit_samples)


def build_key(cfg: TinyBaseConfig, task: dict) -> str:
    """What decides the base's weights and tokenizer: the base recipe and the task, ``holdout_size``
    only through the held-out problems pretraining leaves out (``held_out_pool``)."""
    base = {key: value for key, value in asdict(cfg).items() if key not in NOT_IN_KEY}
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

    corpus = build_corpus(cfg, problems, task["template"], ops, task.get("question_style", "full"))
    tokenizer = train_tokenizer((p + c for p, c, _ in corpus), cfg.number_range)
    model = make_model(cfg, tokenizer)
    examples = encode_corpus(corpus, tokenizer, cfg)
    trained_at = time.time()
    loss = pretrain(model, examples, cfg, tokenizer.pad_token_id, progress=progress) if cfg.steps else None
    pretrain_seconds = time.time() - trained_at
    audit = None
    if cfg.audit_samples and cfg.steps and held_out:
        rows = [{"prompt": build_r1_zero_prompt(countdown_question(r["nums"], r["target"], task.get("question_style", "full")),
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
