"""The R1-Zero prompt: the model thinks inside <think> </think>, then answers inside <answer> </answer>.

Two shapes, as in the DeepSeek-R1 paper and TRL:

* plain text for **base** models (the DeepSeek-R1-Zero template, Table 1 of the paper): the prompt
  ends with ``Assistant:`` and the completion is expected to open ``<think>`` itself;
* a conversation (system + user messages) for **instruct** models: TRL applies the model's chat
  template, and the system prompt asks for the same tags.

A third shape is the **Qwen-Math** template (``qwen_math``), the one Dr. GRPO / Oat-Zero trained and
evaluated Qwen2.5-Math with: Qwen's chat markup written into a plain prompt, asking for the final
answer in ``\\boxed{}`` (no ``<think>``/``<answer>`` tags). The MATH accuracy reward reads the answer where
the prompt asks for it (``rewards.text.asks_for_boxed``).

A recipe names a template (``prompt_template: r1_zero``) or gives its own text with a ``{question}``
placeholder. If a template ends with ``<think>`` (a "prefill", as TinyZero does), the format reward
reads the prefill from the prompt, so the completion is not expected to repeat it.

>>> build_r1_zero_prompt("What is 2+3?", "compact")
'User: What is 2+3? . Think in <think> </think> , answer in <answer> </answer> . Assistant:'
>>> build_r1_zero_prompt("What is 2+3?", "qwen_math").endswith("user\\nWhat is 2+3?<|im_end|>\\n<|im_start|>assistant\\n")
True
>>> build_r1_zero_prompt("What is 2+3?", "chat")[1]
{'role': 'user', 'content': 'What is 2+3?'}
"""

from __future__ import annotations

R1_ZERO_SYSTEM = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with "
    "the answer. The reasoning process and answer are enclosed within <think> </think> and "
    "<answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> "
    "<answer> answer here </answer>."
)

PROMPT_TEMPLATES: dict[str, str] = {
    # DeepSeek-R1-Zero, verbatim, for base models.
    "r1_zero": R1_ZERO_SYSTEM + " User: {question} Assistant:",
    # TinyZero's variant: pre-fills the opening tag, so completions start inside the thinking.
    "r1_zero_prefill": R1_ZERO_SYSTEM + " User: {question} Assistant: Let me solve this step by step.\n<think>",
    # The same contract in few tokens, for the tiny CPU model: every prompt token costs compute.
    "compact": "User: {question} . Think in <think> </think> , answer in <answer> </answer> . Assistant:",
    # Dr. GRPO / oat-zero's R1 template, verbatim from apply_r1_template in understand-r1-zero's
    # train_zero_math.py (stored copy, commit 14046dc): newlines around "User:", pre-fills "<think>".
    "oat_r1": ("A conversation between User and Assistant. The User asks a question, and the Assistant solves it. "
               "The Assistant first thinks about the reasoning process in the mind and then provides the User with "
               "the answer. The reasoning process is enclosed within <think> </think> and answer is enclosed within "
               "<answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> "
               "<answer> answer here </answer>.\nUser: {question}\nAssistant: <think>"),
    # Dr. GRPO / Oat-Zero's Qwen-Math template, verbatim from apply_qwen_math_template in
    # github.com/sail-sg/understand-r1-zero train_zero_math.py (stored copy, commit 14046dc):
    #   "<|im_start|>system\nPlease reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n<|im_start|>user\n"
    #   + question + "<|im_end|>\n<|im_start|>assistant\n"
    # A plain string: the chat markup is part of the text, not applied by the tokenizer's template.
    "qwen_math": ("<|im_start|>system\nPlease reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n"
                  "<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"),
    # Conversational: rendered by the model's chat template (instruct models).
    "chat": "{question}",
    # The same, with the assistant's turn opened and "<think>" pre-filled: the chat-model form of
    # TinyZero's / Open-Reasoner-Zero's prefill, for a model that never opens the tag itself.
    "chat_think": "{question}",
}

CHAT_TEMPLATES = {"chat", "chat_think"}
PREFILL = "<think>"


def build_r1_zero_prompt(question: str, template: str = "r1_zero", system_prompt: str | None = None):
    """Render one question as a prompt: a string, or a list of chat messages for ``chat``.

    ``template`` is a name from ``PROMPT_TEMPLATES`` or a literal string containing ``{question}``.
    """
    text = resolve_template(template)
    if template in CHAT_TEMPLATES:
        messages = [
            {"role": "system", "content": system_prompt or R1_ZERO_SYSTEM},
            {"role": "user", "content": text.replace("{question}", question)},
        ]
        return messages + [{"role": "assistant", "content": PREFILL}] if template == "chat_think" else messages
    # str.replace, not str.format: questions and user templates may contain braces (LaTeX, sets).
    return text.replace("{question}", question)


def resolve_template(template: str) -> str:
    if template in PROMPT_TEMPLATES:
        return PROMPT_TEMPLATES[template]
    if "{question}" in template:
        return template
    raise ValueError(
        f"unknown prompt_template {template!r}: use one of {sorted(PROMPT_TEMPLATES)} "
        "or a string containing '{question}'"
    )


def render_prompt(prompt, tokenizer, chat_template_kwargs: dict | None = None) -> str:
    """The prompt text the model is given: a string as is, chat messages through the tokenizer's chat
    template with ``chat_template_kwargs`` (a recipe's, e.g. Qwen3's ``enable_thinking``). A last
    message of the assistant's is a prefill: the turn before it is opened as for generation and its
    text appended, so the model continues it. Training's checks, the tracker and evaluation all
    render through here, and training hands TRL this text (``trl_prompt``).
    """
    if isinstance(prompt, str):
        return prompt
    prefill = ""
    if prompt and prompt[-1].get("role") == "assistant":
        # Not continue_final_message: some templates rewrite a continued assistant turn (Qwen3 adds
        # an empty think block), while the generation prompt is what the model was tuned to follow.
        prompt, prefill = prompt[:-1], str(prompt[-1].get("content", ""))
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True,
                                         **(chat_template_kwargs or {})) + prefill


def trl_prompt(prompt, tokenizer, chat_template_kwargs: dict | None = None):
    """The prompt as GRPOTrainer must get it: chat messages that end with an assistant prefill as the
    rendered text, everything else unchanged.

    TRL 1.16 renders every conversational prompt with ``add_generation_prompt=True``: a trailing
    assistant message is closed (``<think><|im_end|>``) and a fresh turn opened, so the prefill
    would be lost without a word. A string prompt is tokenized as is.
    """
    if isinstance(prompt, list) and prompt and prompt[-1].get("role") == "assistant":
        return render_prompt(prompt, tokenizer, chat_template_kwargs)
    return prompt
