"""A tiny "base model" for the offline CPU demo: a ~1 M-parameter Qwen2 that already, now and then, searches.

Real R1-Zero starts from a base model that already, now and then, writes reasoning, checks a step,
or uses the answer tags; RL amplifies what pays. This package makes such a model for Countdown, in
a few minutes on a laptop CPU, once per machine: ``config`` holds what decides it
(``TinyBaseConfig``, read from ``recipes/tiny_base/*.yaml``); ``task`` derives, once, what the
training recipe tells it (its problems, prompt and held-out set) and the folder to build into;
``corpus`` writes the deliberately imperfect synthetic traces in the trace grammar; ``model``
builds the word-level tokenizer (every integer in range is one token) and the untrained Qwen2;
``pretrain`` runs the plain torch loop with the loss weighted up on the tokens that make search
competent; ``audit`` samples the result and gates it (does its own search pay?); ``build`` keys
the cache, builds into the folder once and is what ``make train`` calls before loading a model.
Nothing is re-exported here, so reading a plan or a config imports no pretraining code.
"""
