"""Stage 6, evaluation: score models with training's own template and rewards, on training's held-out
rows (the before/after table) or on the problems ``make eval`` scores.

``scoring`` scores one batch of completions (format, accuracy, length, the reflection measures) and
writes numbers as JSON; ``pass_at_k`` is ``make eval``'s metrics (greedy pass@1, sampled pass@k,
avg@k, reflection@k) and its comparison table; ``before_after`` is training's held-out rows before and
after training (table, fair example, ``held_out.json``) and during it (``HeldOutEvalCallback``);
``generation`` samples with transformers or vLLM; ``eval_settings`` resolves ``make eval``'s flags and a
benchmark's protocol against the recipe; ``eval_problems`` picks the problems ``make eval`` scores.
"""
