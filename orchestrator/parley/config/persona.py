"""A persona (configs/personas/*.yaml): who the avatar is, what it knows and how it is prompted."""

from __future__ import annotations

import string

from pydantic import Field, field_validator

from parley.config.base import Strict

_PERSONA_FIELDS = {"name", "role", "knowledge", "user_label"}


class Example(Strict):
    user: str
    assistant: str


class Persona(Strict):
    """Who the avatar is and how it is prompted.

    ``system_prompt`` is used with instruction-tuned models (chat style); ``preamble`` and
    ``examples`` build a few-shot transcript for base models (completion style). Both may use the
    placeholders {name}, {role}, {knowledge} and {user_label}.
    """

    name: str = Field(min_length=1)
    role: str
    user_label: str = "User"
    greeting: str
    knowledge: str = ""
    system_prompt: str
    preamble: str
    examples: list[Example] = Field(min_length=1)
    stop: list[str] = []
    # Names and terms the caller is likely to say: they prompt the speech recogniser.
    vocabulary: list[str] = []

    @field_validator("system_prompt", "preamble")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        used = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        unknown = used - _PERSONA_FIELDS
        if unknown:
            raise ValueError(
                f"unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(_PERSONA_FIELDS)}"
            )
        return value

    def fill(self, template: str) -> str:
        return template.format(
            name=self.name, role=self.role, knowledge=self.knowledge.strip(), user_label=self.user_label
        )
