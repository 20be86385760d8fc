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


def render(question, *, template: str, tokenizer, system_prompt: str | None = None) -> str:
    """The text the policy continues. `question` is text, or chat messages [{role, content}] (TRL's
    conversational format), which are rendered through the chat template as they are, with the generation
    prompt; `system_prompt` is added only to a conversation that has no system message of its own."""
    if isinstance(question, list):
        if template != "chat":
            raise PromptError(f"conversational prompts (lists of chat messages) are rendered through the chat "
                              f"template; set prompt.template=chat (it is {template!r})")
        has_system = any(isinstance(m, dict) and m.get("role") == "system" for m in question)
        messages = ([{"role": "system", "content": system_prompt}] if system_prompt and not has_system else []) + list(question)
        return _chat(tokenizer, messages)
    if template == "plain":
        return question
    if template == "r1_zero":
        return R1_ZERO.format(question=question)
    if template == "chat":
        messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
            {"role": "user", "content": question}
        ]
        return _chat(tokenizer, messages)
    raise PromptError(f"unknown prompt template {template!r}")


def _chat(tokenizer, messages: list[dict]) -> str:
    if not getattr(tokenizer, "chat_template", None):
        raise PromptError("the model's tokenizer has no chat template; use prompt.template=r1_zero or plain "
                          "(text prompts only: a conversational dataset needs a chat template)")
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
