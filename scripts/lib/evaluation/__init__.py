"""Stage 4, evaluation: score models on held-out prompts with training's own template and rewards.

``evaluation`` scores completions and writes the before/after table; ``generation`` samples with
transformers or vLLM; ``eval_settings`` resolves a benchmark's protocol against the recipe;
``eval_problems`` picks the problems ``make eval`` scores.
"""
