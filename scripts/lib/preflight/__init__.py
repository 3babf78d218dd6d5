"""Stage 3, before training: checks that catch a recipe's mistakes in seconds instead of hours.

``checks`` runs them all (``make preflight``) or the fast ones (``make train``) and stops on a failure;
``report`` is the ``Section``/``Report`` they fill; ``template`` probes every reward with completions after
real prompts (and calls rewards as TRL does); ``data`` finds dead rows and prompts that do not fit;
``samples`` samples the starting model and measures the learning signal; ``resources`` estimates memory
(``memory``) and flags the GRPO/vLLM/PEFT setting traps (``traps``); ``chat_audit`` reads a real
tokenizer's chat template for the traps it sets (and proves TRL's decode keeps the tags); ``rehearsal`` runs a
GPU recipe on CPU with a scaled-down stand-in of its model and its real tokenizer (``make rehearse``).
"""
