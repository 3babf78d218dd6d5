r"""The benchmarks R1-Zero results are compared on, and the settings published numbers used.

``make eval TASK=math500|aime24|amc23|gsm8k`` reads a benchmark from here: where its problems are
(hub id, split, question and answer columns; or ``--dataset_name`` for a local copy), which reward
scores it, and the decoding the default protocol uses. A number is only comparable to a published
one when the protocol (template, temperature, top_p, max tokens, samples) matches; every protocol
below says where it comes from and whether it was checked against the source.

Protocols
---------
``simplerl_zoo`` (default): SimpleRL-Zoo (Zeng et al. 2025, arXiv:2503.18892), README of
github.com/hkust-nlp/simpleRL-reason, "Evaluate": ``--temperature 1.0 --top_p 0.95 --max_tokens 16000
--n_sampling 1`` on ``aime24,amc23,math500,olympiadbench,gsm8k,minerva_math``; AIME24 also as Avg@32
("we sample 32 responses per model with the same settings"). Baselines (base models) were decoded
greedily. Their template is ``qwen-boxed`` (Qwen2.5-Math's evaluation code, answer in ``\boxed{}``),
not the R1-Zero one. Verified against that README (stored copy, commit 9b928d4).

``oat_zero``: Dr. GRPO / Oat-Zero (Liu et al. 2025, "Understanding R1-Zero-Like Training"),
github.com/sail-sg/understand-r1-zero: greedy (temperature 0, top_p 1), 3000 new tokens, one sample, in
the **Qwen-Math template** (``qwen_math``, answer read from the last ``\boxed{}``), no stop string. The
published models were evaluated this way: the README runs ``evaluate_model.py --model_name
sail/Qwen2.5-Math-1.5B-Oat-Zero`` with no ``--template`` (``--template r1`` only for the Llama model), and
``evaluate_model.py``'s defaults are ``template='qwen_math', temperature=0.0, top_p=1.0, max_tokens=3000,
n_samples=1`` (a stored copy of the file; the repository it sits in is not named by the index). The
R1-template training run (``examples/qwen2.5-math-1.5b.sh``, first command) evaluates with its own
template and stops at ``</answer>``; use ``--prompt_template`` to score a model that way (the stop
string is not applied here: the answer reward reads the last ``<answer>`` block either way).
Published (paper, Table 4, greedy, 3k tokens): Qwen2.5-Math-1.5B AIME24 20.0, AMC 32.5, MATH500 33.0,
Minerva 12.5, OlympiadBench 22.8, avg 24.2; Oat-Zero-1.5B 20.0, 53.0, 74.2, 25.7, 37.6, avg 42.1.

Published numbers the issue compares against (SimpleRL-Zoo README table): Qwen2.5-1.5B MATH-500
29.6 -> 59.0, AMC23 12.5 -> 35.0, AIME24 pass@1 0.0 -> 6.7, AIME24 avg@32 0.1 -> 4.2, GSM8K 55.7 -> 74.4.

>>> sorted(BENCHMARKS)
['aime24', 'amc23', 'gsm8k', 'math500']
>>> BENCHMARKS["aime24"].hub_id, BENCHMARKS["aime24"].split, protocol_settings("aime24")["num_samples"]
('HuggingFaceH4/aime_2024', 'train', 32)
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Benchmark:
    name: str
    hub_id: str
    split: str
    question: str  # column holding the problem
    answer: str  # column holding the final answer (GSM8K: the worked solution ending "#### n")
    task: str  # which task's reward scores it (ACCURACY_REWARD_FOR_TASK)
    size: int  # problems in the split
    config: str | None = None
    # protocol name -> overrides of PROTOCOLS[name] for this benchmark (AIME's avg@32)
    overrides: dict = field(default_factory=dict)


BENCHMARKS: dict[str, Benchmark] = {
    # 500 problems of the MATH test set (Lightman et al. 2023, "Let's Verify Step by Step").
    "math500": Benchmark("math500", "HuggingFaceH4/MATH-500", "test", "problem", "answer", "math", 500),
    # AIME 2024 I and II, 30 problems, integer answers.
    "aime24": Benchmark("aime24", "HuggingFaceH4/aime_2024", "train", "problem", "answer", "math", 30,
                        overrides={"simplerl_zoo": {"num_samples": 32}}),
    # AMC 12 2023, 40 problems (the set of Qwen2.5-Math's evaluation, used by SimpleRL-Zoo).
    "amc23": Benchmark("amc23", "math-ai/amc23", "test", "question", "answer", "math", 40),
    # GSM8K test, 1,319 problems.
    "gsm8k": Benchmark("gsm8k", "openai/gsm8k", "test", "question", "answer", "gsm8k", 1319, config="main"),
}

PROTOCOLS: dict[str, dict] = {
    "simplerl_zoo": {"temperature": 1.0, "top_p": 0.95, "max_new_tokens": 16000, "num_samples": 1,
                     "source": "SimpleRL-Zoo README, Evaluate (github.com/hkust-nlp/simpleRL-reason)",
                     "verified": True},
    # "template": the prompt the published numbers were measured with (a --prompt_template flag overrides it;
    # without one, the recipe's template is used).
    "oat_zero": {"temperature": 0.0, "top_p": 1.0, "max_new_tokens": 3000, "num_samples": 0, "template": "qwen_math",
                 "source": "Dr. GRPO / Oat-Zero, evaluate_model.py defaults (github.com/sail-sg/understand-r1-zero)",
                 "verified": True},
}
DEFAULT_PROTOCOL = "simplerl_zoo"


def protocol_settings(benchmark: str, protocol: str = DEFAULT_PROTOCOL) -> dict:
    """Decoding settings for ``benchmark`` under ``protocol`` (``num_samples`` 0: greedy only)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}: use one of {sorted(PROTOCOLS)}")
    return {**PROTOCOLS[protocol], **BENCHMARKS[benchmark].overrides.get(protocol, {})}


def load_benchmark(name: str, dataset: str | None = None, split: str | None = None, template: str = "r1_zero",
                   system_prompt: str | None = None, on_bad_row: str = "skip") -> tuple[list[dict], int, str]:
    """(rows in the R1-Zero prompt, skipped rows, where they came from) for benchmark ``name``.

    ``dataset`` replaces the hub id with a local ``.jsonl`` file or folder (same columns).
    """
    from data.gsm8k import gsm8k_to_r1_zero
    from data.loading import read_rows
    from data.math import math_to_r1_zero

    bench = BENCHMARKS[name]
    source, split = dataset or bench.hub_id, split or bench.split
    raw = read_rows(source, split=split, config=bench.config)
    options = dict(template=template, system_prompt=system_prompt, on_bad_row=on_bad_row, source=source)
    if bench.task == "gsm8k":
        rows, skipped = gsm8k_to_r1_zero(raw, **options)
    else:
        rows, skipped = math_to_r1_zero(raw, **options)
    return rows, skipped, f"{name}: {source} [{split}]"
