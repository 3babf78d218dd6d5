"""Held-out scoring on however many processes launched this (torchrun): counts what each rank generates.

    python -m torch.distributed.run --nproc_per_node 2 tests/dist_scoring.py MODEL_DIR OUT_DIR

Each rank writes ``OUT_DIR/rank<N>.json``: the rows its ``model.generate`` received, and the numbers and
completions of the training "before" score (``held_out_scores``) and the in-training eval
(``HeldOutEvalCallback.evaluate``: greedy + 2 samples per prompt). Used by tests/test_multiprocess.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.lib.recipe.parsing import parse_recipe# noqa: E402
from scripts.lib.process.distributed import rank, shut_down  # noqa: E402
from scripts.lib.evaluation.before_after import HeldOutEvalCallback, held_out_scores  # noqa: E402
from scripts.lib.evaluation.generation import HFGenerator, across_ranks  # noqa: E402
from scripts.lib.models.loading import load_model_and_tokenizer  # noqa: E402

HOLDOUT = 5  # odd: the last rank's share is padded


def main(model_dir: str, out_dir: str) -> None:
    root = Path(__file__).resolve().parents[1]
    script_args, training_args, model_args = parse_recipe([
        "--config", str(root / "recipes" / "cpu_countdown_tiny.yaml"), "--model_name_or_path", model_dir,
        "--tiny_base_recipe", "", "--output_dir", str(Path(out_dir) / "run"), "--holdout_size", str(HOLDOUT),
        "--max_train_samples", "8", "--max_completion_length", "16", "--holdout_eval_steps", "1",
        "--holdout_eval_samples", "2"])
    _, rows, _ = script_args.build_dataset(training_args.seed)
    model, tokenizer = load_model_and_tokenizer(model_args, training_args)
    generated = []
    original = model.generate

    def counting_generate(**kwargs):
        generated.append(int(kwargs["input_ids"].shape[0]))
        return original(**kwargs)

    model.generate = counting_generate
    before = held_out_scores("before", model, tokenizer, rows, script_args, training_args)
    scoring_rows = sum(generated)
    callback = HeldOutEvalCallback.from_recipe(script_args, training_args, rows, tokenizer)
    callback.sampling["batch_size"] = 4  # several generate calls per pass
    scalars = callback.evaluate(model)
    eval_rows = sum(generated) - scoring_rows
    # The completions themselves (held_out_scores keeps only the first): 2 samples per prompt, 4 per batch.
    generate = across_ranks(HFGenerator(model, tokenizer, 16, seed=training_args.seed, batch_size=4))
    texts, lengths = generate([r["prompt"] for r in rows], samples_per_prompt=2)
    numbers = {k: v for k, v in before.items() if isinstance(v, (int, float)) and v == v}
    Path(out_dir, f"rank{rank()}.json").write_text(json.dumps({
        "scoring_rows": scoring_rows, "eval_rows": eval_rows, "texts": texts, "lengths": lengths, "before": numbers,
        "example": before["texts"][0], "eval": scalars}))
    shut_down()


if __name__ == "__main__":
    main(*sys.argv[1:3])
