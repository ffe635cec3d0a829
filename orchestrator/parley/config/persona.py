"""A persona (configs/personas/*.yaml): who the avatar is, what it knows and how it is prompted."""

from __future__ import annotations

import string
from typing import Literal

from pydantic import Field, field_validator

from parley.config.base import Strict

_PERSONA_FIELDS = {"name", "role", "knowledge", "user_label"}


class Example(Strict):
    user: str
    assistant: str


class Grounding(Strict):
    """How replies are kept to what the persona knows (docs/configuration.md, "Grounded answers")."""

    # strict: only matching passages go into the prompt, a question nothing matches is declined and
    # a clause with a claim no source backs is not spoken. off: the LLM answers freely.
    mode: Literal["strict", "off"] = "strict"
    max_passages: int = Field(2, ge=1, le=8)
    # Share of the question's content words a passage must contain to count as a match.
    min_coverage: float = Field(0.3, gt=0, le=1)
    # With an embedding model (retrieval.embedding): a passage also matches by meaning when its
    # cosine similarity to the question is at least this and it leads the next passage by min_margin.
    min_similarity: float = Field(0.3, ge=-1, le=1)
    min_margin: float = Field(0.03, ge=0, le=2)
    # A match is sure when its words cover this share of the question or its meaning is this close;
    # the sentence of a match that is not is said with the persona's `unsure` line.
    sure_coverage: float = Field(0.5, gt=0, le=1)
    sure_similarity: float = Field(0.45, ge=-1, le=1)
    # Share its passages must cover for the LLM to answer; below it the best passage is said as it
    # is. A small model asked what its passages only touch on fills the rest in; a large one infers
    # well from them (0.3 lets it answer whatever matched).
    llm_min_coverage: float = Field(1.0, gt=0, le=1)


class Persona(Strict):
    """Who the avatar is and how it is prompted.

    ``system_prompt`` is used with instruction-tuned models (chat style); ``preamble`` and
    ``examples`` build a few-shot transcript for base models (completion style). Both may use the
    placeholders {name}, {role}, {knowledge} (every fact, always in view: for a handful of facts) and
    {user_label}. What the persona knows is ``knowledge`` (a fact per line) and the files in
    ``documents``; with grounding on, the passages that match each question are given with it.
    """

    name: str = Field(min_length=1)
    role: str
    user_label: str = "User"
    greeting: str
    knowledge: str = ""
    # A folder of Markdown or text files, relative to the persona file (resolved when loaded).
    documents: str | None = None
    # Said when nothing the persona knows answers the question: say where to ask instead.
    decline: str = "I'm sorry, I don't know that."
    # Said instead of a reply that stated something its passages do not back, or for a question its
    # passages only touch on; {passage} is the best one. A lead-in ("From my notes: {passage}") costs
    # every such reply a second of speech.
    fallback: str = "{passage}"
    # Said with the sentence that answers when only its meaning matched the question, not its words
    # (with an embedding model): the caller hears that it is the persona's best guess at what they asked.
    unsure: str = "I'm not sure that's what you're asking, but: {passage}"
    # Said when the reply cannot be made (the LLM or its server failed); the session goes on.
    apology: str = "Sorry, I can't answer right now. Please try again in a moment."
    grounding: Grounding = Grounding()
    system_prompt: str
    preamble: str
    examples: list[Example] = Field(min_length=1)
    stop: list[str] = []
    # A Jinja chat template, over the model's own (docs/configuration.md, "Prompt templates").
    chat_template: str | None = None
    # Names and terms the caller is likely to say: they prompt the speech recogniser.
    vocabulary: list[str] = []

    @field_validator("fallback", "unsure")
    @classmethod
    def _has_passage(cls, value: str) -> str:
        if "{passage}" not in value:
            raise ValueError("must contain {passage}, where the matching passage is said")
        return value

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
