"""What decides the tiny base model (``TinyBaseConfig``), read from a base recipe file.

The numbers live in ``recipes/tiny_base/*.yaml``; each default here equals
``recipes/tiny_base/countdown.yaml`` (``tests/test_tiny_base.py`` checks it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scripts.lib.recipe.parsing import parse_dataclass_yaml


SEARCH_ORDERS = ("random", "closest_first")


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
    min_tries: int = field(default=3, metadata={"help": "Fewest tries in a search trace (its try budget is drawn "
                                                        "from min_tries..max_tries)."})
    max_tries: int = field(default=7, metadata={"help": "Most tries in a search trace."})
    search_order: str = field(
        default="random",
        metadata={"help": "How a search trace orders its tries. `random`: random misses, the solution placed at a "
                  "random try (search_hit_rate, near_miss_share); `closest_first`: a real search in a heuristic "
                  "order a small model can learn (first steps whose result is closest to the target first, each "
                  "with the last operation that comes closest), stopping at the first hit or giving up at the "
                  "try budget (search_hit_rate and near_miss_share unused)."},
    )
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
    on_failed_gate: str = field(
        default="stop",
        metadata={"help": "A base that fails the gate: `stop` (make train stops with one line; the base stays "
                  "cached) or `warn` (one warning line on every use, and training goes on)."},
    )

    def __post_init__(self):
        if self.search_order not in SEARCH_ORDERS:
            raise ValueError(f"search_order must be one of {', '.join(SEARCH_ORDERS)}, not {self.search_order!r}")
        if not 1 <= self.min_tries <= self.max_tries:
            raise ValueError(f"need 1 <= min_tries <= max_tries, got {self.min_tries} and {self.max_tries}")



def read_tiny_base_recipe(path: str) -> TinyBaseConfig:
    """A base recipe file (``recipes/tiny_base/*.yaml``) as a ``TinyBaseConfig``, with the one-line errors of a training recipe."""
    return parse_dataclass_yaml(path, TinyBaseConfig)
