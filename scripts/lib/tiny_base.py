"""A tiny "base model" for the offline CPU demo: tokenizer, synthetic corpus, Qwen2 model, pretraining.

Real R1-Zero starts from a base model that already, now and then, writes reasoning, checks a step,
or uses the answer tags; RL amplifies what pays. This module makes a ~1 M-parameter model with
that property for Countdown, in a few minutes on a laptop CPU:

* a byte-level BPE tokenizer trained here (every integer up to 999 and each tag is one token);
* a deliberately imperfect corpus: most traces are **lazy** (a bare guess, or one checked try that
  is answered even when its check failed: ``… = 12 vs 18 wait </think>``), a few **search** (after a
  failed check, ``recheck ;`` and another try, until ``… = 18 vs 18 ok``), and
  most are not in the exact ``<think>…</think> <answer>…</answer>`` format;
* a ``Qwen2ForCausalLM`` (config from transformers) pretrained on it with a plain torch loop.

The numbers (sizes, shares, steps) live in ``recipes/tiny_base/*.yaml``; the build is
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

TAGS = ["<think>", "</think>", "<answer>", "</answer>"]
EOS = "<|endoftext|>"
BUILD_INFO = "tiny_base_build.json"


@dataclass
class TinyBaseConfig:
    """Everything that decides the tiny base model. Defaults are overridden by the recipe YAML."""

    seed: int = field(default=0, metadata={"help": "Seed for the corpus, the init and the data order."})
    # Model (Qwen2 architecture)
    hidden_size: int = field(default=128, metadata={"help": "Transformer width."})
    intermediate_size: int = field(default=384, metadata={"help": "MLP width."})
    num_hidden_layers: int = field(default=4, metadata={"help": "Transformer layers."})
    num_attention_heads: int = field(default=4, metadata={"help": "Attention heads."})
    max_position_embeddings: int = field(default=256, metadata={"help": "Longest prompt + completion."})
    vocab_size: int = field(default=2048, metadata={"help": "BPE vocabulary size."})
    # Corpus
    corpus_size: int = field(default=60_000, metadata={"help": "Synthetic traces to pretrain on."})
    search_share: float = field(default=0.2, metadata={"help": "Share of traces that search and check."})
    search_hit_rate: float = field(
        default=0.6,
        metadata={"help": "Share of search traces whose tries include a solution (a competent searcher): makes "
                  "search pay more than guessing, which is what RL can amplify."},
    )
    guess_share: float = field(default=0.5, metadata={"help": "Share of lazy traces that are a bare guess."})
    exact_format_share: float = field(default=0.25, metadata={"help": "Share of traces in the exact tag format."})
    min_tries: int = field(default=3, metadata={"help": "Fewest tries in a search trace."})
    max_tries: int = field(default=7, metadata={"help": "Most tries in a search trace."})
    check_loss_weight: float = field(
        default=8.0,
        metadata={"help": "Loss weight of the check decision (`ok`/`wait` after a value): without it the "
                  "base mis-compares values and its search is no better than guessing."},
    )
    # Pretraining
    steps: int = field(default=1500, metadata={"help": "Optimizer steps."})
    batch_size: int = field(default=64, metadata={"help": "Sequences per step."})
    learning_rate: float = field(default=2e-3, metadata={"help": "Peak AdamW learning rate."})
    warmup_steps: int = field(default=100, metadata={"help": "Linear warmup, then cosine decay."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    num_threads: int = field(default=0, metadata={"help": "torch threads (0: leave torch's default)."})


# --------------------------------------------------------------------------- traces


def _chains(nums: list[int], ops: str):
    """Every ``(x o y) o z`` over a permutation of the numbers, as (x, o1, y, m, o2, z, v)."""
    seen = set()
    for x, y, z in itertools.permutations(nums, 3):
        for o1, o2 in itertools.product(ops, repeat=2):
            key = (x, o1, y, o2, z)
            if key in seen:
                continue
            seen.add(key)
            m = _calc(x, o1, y)
            v = _calc(m, o2, z)
            yield x, o1, y, m, o2, z, v


def _calc(a: int, op: str, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


def _try_text(c) -> str:
    x, o1, y, m, o2, z, v = c
    return f"{x} {o1} {y} = {m} , {m} {o2} {z} = {v}"


def _answer_text(c) -> str:
    x, o1, y, _, o2, z, _ = c
    return f"( {x} {o1} {y} ) {o2} {z}"


def _checked_try(think: str, c, target: int, decisions: list[int]) -> str:
    """``think`` + `` x o y = m , m o z = v vs t ok`` (or ``wait``), recording where the decision starts.

    Every try is checked, lazy ones too, so the base sees many comparisons and learns them (with a
    check only in the rare search traces, a base said "ok" falsely 4 times in 5). The target is
    written beside the value because comparing two adjacent numbers is learnable by a tiny model;
    recalling the target from the prompt mid-decision was not. What separates a searcher from a
    lazy trace is what follows a failed check: ``recheck ;`` and another try, or giving up.
    """
    think += f" {_try_text(c)} vs {target}"
    decisions.append(len(think))  # the check decision is the next token
    return think + (" ok" if c[-1] == target else " wait")


def make_trace(rng: random.Random, nums: list[int], target: int, cfg: TinyBaseConfig, ops: str):
    """(completion text, char offsets of check decisions): a search or a lazy trace, maybe malformed."""
    chains = list(_chains(nums, ops))
    decisions: list[int] = []
    think = ""
    if rng.random() < cfg.search_share:
        k = min(len(chains), rng.randint(cfg.min_tries, cfg.max_tries))
        hits = [c for c in chains if c[-1] == target]
        misses = [c for c in chains if c[-1] != target]
        if hits and rng.random() < cfg.search_hit_rate:
            tries = rng.sample(misses, min(len(misses), k - 1))
            tries.insert(rng.randrange(len(tries) + 1), rng.choice(hits))
        else:
            tries = rng.sample(misses or chains, min(len(misses or chains), k))
        answer = None
        for i, c in enumerate(tries):
            if i:
                think += " recheck ;"  # the reflection: a failed check leads to another try
            think = _checked_try(think, c, target, decisions)
            if c[-1] == target:
                answer = c
                break
        if answer is None:
            # No try hit: answer with the closest, as a person would; every check stays true.
            answer = min(tries, key=lambda c: abs(c[-1] - target))
    elif rng.random() < cfg.guess_share:
        think = " guess"
        answer = rng.choice(chains)
    else:
        # Lazy: one try, checked, then answered whatever the check said.
        answer = rng.choice(chains)
        think = _checked_try("", answer, target, decisions)
    think_body, answer_body = think.strip(), _answer_text(answer)

    style = "exact" if rng.random() < cfg.exact_format_share else rng.choice(
        ["no_close_think", "no_answer_tags", "junk_after", "no_open_think", "answer_only", "unclosed_answer"]
    )
    prefix = " <think> "
    if style == "exact":
        text = f"{prefix}{think_body} </think> <answer> {answer_body} </answer>"
    elif style == "no_close_think":
        text = f"{prefix}{think_body} <answer> {answer_body} </answer>"
    elif style == "no_answer_tags":
        text = f"{prefix}{think_body} </think> {answer_body}"
    elif style == "junk_after":
        text = f"{prefix}{think_body} </think> <answer> {answer_body} </answer> {rng.choice(['done', 'ok', answer_body])}"
    elif style == "no_open_think":
        prefix = " "
        text = f"{prefix}{think_body} </think> <answer> {answer_body} </answer>"
    elif style == "answer_only":
        return f" <answer> {answer_body} </answer>", []
    else:
        text = f"{prefix}{think_body} </think> <answer> {answer_body}"
    offset = len(prefix) - 1  # think started with a space that `prefix` already has
    return text, [offset + d for d in decisions]


def build_corpus(cfg: TinyBaseConfig, problems: list[dict], template: str, ops: str, question_style: str = "full"):
    """(prompt, completion, decision char offsets) for each problem."""
    rng = random.Random(cfg.seed)
    corpus = []
    for row in problems:
        prompt = build_r1_zero_prompt(countdown_question(row["nums"], row["target"], question_style), template)
        completion, decisions = make_trace(rng, row["nums"], row["target"], cfg, ops)
        corpus.append((prompt, completion, decisions))
    return corpus


# --------------------------------------------------------------------------- tokenizer and model


def train_tokenizer(texts, vocab_size: int):
    """A byte-level BPE tokenizer (Qwen's kind) with each tag a single, ordinary (not special) token.

    Tags must not be special tokens: TRL decodes completions with ``skip_special_tokens=True``.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # GPT-2's split regex separates "-" from digits, which would make -12 and 12 share no token;
    # here a signed integer is one piece, so every value in a trace is one token.
    split = pre_tokenizers.Split(Regex(r" ?-?\d+| ?[A-Za-z]+| ?[^\sA-Za-z\d]+|\s+"), behavior="isolated")
    tok.pre_tokenizer = pre_tokenizers.Sequence([split, pre_tokenizers.ByteLevel(add_prefix_space=False,
                                                                                 use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    # Every integer the traces can contain, often enough to become one token each.
    numbers = [" ".join(str(i) for i in range(-100, 1000))] * 20
    tok.train_from_iterator(itertools.chain(texts, numbers), trainer)
    tok.add_tokens([AddedToken(t, lstrip=True, normalized=False, special=False) for t in TAGS])
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS, padding_side="left")


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
    """Token ids and per-token loss weights: 0 on the prompt, 1 on the completion, more on checks."""
    examples = []
    # Batch encoding runs in the tokenizer's Rust threads: ~10x faster than one call per trace.
    prompts = tokenizer([p for p, _, _ in corpus], add_special_tokens=False)["input_ids"]
    completions = tokenizer([c for _, c, _ in corpus], add_special_tokens=False, return_offsets_mapping=True)
    for prompt_ids, completion_ids, offsets, (_, _, decisions) in zip(
            prompts, completions["input_ids"], completions["offset_mapping"], corpus):
        ids = prompt_ids + completion_ids + [tokenizer.eos_token_id]
        weights = [0.0] * len(prompt_ids) + [1.0] * (len(completion_ids) + 1)
        for d in decisions:
            for k, (start, end) in enumerate(offsets):
                if start <= d < end or start == d + 1:
                    weights[len(prompt_ids) + k] = cfg.check_loss_weight
                    break
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
        loss = (token_loss * w[keep]).sum() / w[keep].sum().clamp(min=1.0)
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


def build_key(cfg: TinyBaseConfig, task: dict) -> str:
    payload = json.dumps({"base": asdict(cfg), "task": task, "version": 2}, sort_keys=True)
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
    _, held_out = countdown_splits(0, task["test_size"], seed=task["seed"], **countdown)
    excluded = {(tuple(sorted(r["nums"])), r["target"]) for r in held_out}
    problems, _ = countdown_splits(cfg.corpus_size, 0, seed=cfg.seed + 1, **countdown)
    problems = [r for r in problems if (tuple(sorted(r["nums"])), r["target"]) not in excluded]

    corpus = build_corpus(cfg, problems, task["template"], ops, task.get("question_style", "full"))
    tokenizer = train_tokenizer((p + c for p, c, _ in corpus[:5000]), cfg.vocab_size)
    model = make_model(cfg, tokenizer)
    examples = encode_corpus(corpus, tokenizer, cfg)
    loss = pretrain(model, examples, cfg, tokenizer.pad_token_id, progress=progress) if cfg.steps else None

    # Write to a temporary folder, then rename: a build killed halfway never looks finished.
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    info = {"key": build_key(cfg, task), "config": asdict(cfg), "task": task, "final_loss": loss,
            "params": sum(p.numel() for p in model.parameters()), "seconds": round(time.time() - started, 1),
            "examples": len(examples)}
    (tmp / BUILD_INFO).write_text(json.dumps(info, indent=2))
    if out_dir.exists():
        import shutil

        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir
