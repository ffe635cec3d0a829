"""Chat messages → the text a model was trained on, with a Jinja chat template.

The template is the model's own (a GGUF's ``tokenizer.chat_template``) or one given in the model's
registry entry or the persona, for a model that has none or a server that would apply the wrong one.
Templates are the Hugging Face kind (``messages``, ``add_generation_prompt``, ``bos_token``,
``eos_token``, ``raise_exception``), run in Jinja's sandbox. The beginning-of-sequence token is left
to whoever tokenizes the text (llama.cpp and its server add it), so it is not written twice.
"""

from __future__ import annotations

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from parley.core.errors import ParleyError
from parley.core.interfaces import Prompt


class TemplateError(ParleyError, ValueError):
    pass


def _raise(message: str):
    raise TemplateError(f"the chat template refused these messages: {message}")


class ChatTemplate:
    def __init__(self, source: str, eos_token: str = "", where: str = "chat_template") -> None:
        self.source = source
        self.eos_token = eos_token
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise
        try:
            self._template = env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{where}: not a valid Jinja template (line {exc.lineno}: {exc.message})") from None
        self.where = where

    def render(self, messages: list[dict[str, str]]) -> str:
        """The prompt for the assistant's next message."""
        try:
            return self._template.render(messages=messages, add_generation_prompt=True, bos_token="",
                                         eos_token=self.eos_token)
        except TemplateError:
            raise
        except jinja2.TemplateError as exc:
            raise TemplateError(f"{self.where}: the template failed: {exc}") from None

    def stop(self) -> list[str]:
        """Where a reply ends: the end-of-sequence text, when the template writes one."""
        return [self.eos_token] if self.eos_token else []


def as_text(prompt: Prompt, template: ChatTemplate | None) -> Prompt:
    """A chat prompt rendered with ``template`` (when there is one) as a completion prompt."""
    if prompt.messages is None or template is None:
        return prompt
    return Prompt(text=template.render(prompt.messages), stop=[*prompt.stop, *template.stop()])
