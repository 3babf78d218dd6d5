"""The tiny base's build-time audit: does its own search pay? RL can only amplify what does."""

from __future__ import annotations

from rewards import countdown_reward, format_reward
from scripts.lib.measure.reflection import analyze_countdown_completion, reflection_verdict, summarize_reflection
from scripts.lib.measure.stops import stops_line
from scripts.lib.models.sampling import sample_completions
from scripts.lib.models.tiny_base.config import TinyBaseConfig


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
            f"searches without a true hit {summary.get('searches_without_hit', float('nan')):.3f}; "
            + stops_line(summary))
    return {**summary, "verdict": verdict, "verdict_numbers": numbers, "gate": gate, "gate_line": line}
