"""Before training: checks that catch a recipe's mistakes in seconds instead of hours.

``checks`` runs the template, data, reward, sampling and resource checks that ``make preflight``
reports; ``traps`` knows the GRPO/vLLM/PEFT setting combinations that fail late; ``chat_audit``
reads a real tokenizer's chat template for the traps it sets; ``memory`` estimates GPU memory.
"""
