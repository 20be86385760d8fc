"""Prompt formats: how a task's question becomes the text the policy continues."""

from __future__ import annotations

# The R1-Zero format instruction, in our own words: reasoning inside <think>, final answer inside <answer>.
R1_ZERO = (
    "A conversation between a User and an Assistant. The User asks a question and the Assistant solves it. "
    "The Assistant first reasons step by step inside <think> </think> tags, then gives the final answer "
    "inside <answer> </answer> tags, like this: <think> reasoning </think> <answer> answer </answer>.\n"
    "User: {question}\nAssistant:"
)


class PromptError(ValueError):
    pass


def render(question: str, *, template: str, tokenizer, system_prompt: str | None = None) -> str:
    if template == "plain":
        return question
    if template == "r1_zero":
        return R1_ZERO.format(question=question)
    if template == "chat":
        if not getattr(tokenizer, "chat_template", None):
            raise PromptError("the model's tokenizer has no chat template; use prompt.template=r1_zero or plain")
        messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
            {"role": "user", "content": question}
        ]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    raise PromptError(f"unknown prompt template {template!r}")
