"""A persona's knowledge as passages: its facts, one per line, and its documents, cut into passages
of a few sentences, each under its heading."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from parley.config import ConfigError, Persona

DOCUMENT_SUFFIXES = (".md", ".markdown", ".txt")
# A passage is cut at about this many words: each retrieved passage costs prompt tokens per question.
_PASSAGE_WORDS = 60


@dataclass(frozen=True)
class Passage:
    text: str
    source: str  # "facts" or the document's path relative to the documents folder


def sentences(paragraph: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", paragraph.strip()) if s]


def split_document(text: str) -> list[str]:
    """Passages of a Markdown or text document: paragraphs (list items each on their own), long ones
    cut between sentences; a heading is kept in front of the passages under it, for context."""
    passages: list[str] = []
    heading = ""
    for block in re.split(r"\n\s*\n|\n(?=\s*(?:[-*+] |\d+[.)] |#))", text):
        block = " ".join(block.split())
        if not block:
            continue
        if block.startswith("#"):
            heading = block.lstrip("#").strip()
            continue
        block = re.sub(r"^(?:[-*+]|\d+[.)])\s+", "", block)
        current: list[str] = []
        for sentence in sentences(block):
            if current and len(" ".join(current + [sentence]).split()) > _PASSAGE_WORDS:
                passages.append(" ".join(current))
                current = []
            current.append(sentence)
        if current:
            passages.append(" ".join(current))
    return [f"{heading}: {p}" if heading and not p.startswith(heading) else p for p in passages]


def persona_passages(persona: Persona) -> list[Passage]:
    """The passages of ``persona``: its facts, then its documents'."""
    passages = [Passage(text, "facts") for text in facts(persona)]
    if persona.documents is not None:
        passages += list(read_documents(Path(persona.documents)))
    return passages


def facts(persona: Persona) -> list[str]:
    """The persona's own facts: one per line of ``knowledge``, bullets removed."""
    lines = (re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", line).strip() for line in persona.knowledge.splitlines())
    return [line for line in lines if line]


def read_documents(folder: Path):
    """Every passage of the Markdown and text files under ``folder``."""
    if not folder.is_dir():
        raise ConfigError(f"persona documents: {folder} is not a folder; point `documents` at a folder of "
                          f"{', '.join(DOCUMENT_SUFFIXES)} files (relative to the persona file)")
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in DOCUMENT_SUFFIXES or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"persona documents: cannot read {path} as UTF-8 text ({exc}); "
                              "convert it to UTF-8 or move it out of the folder") from None
        for passage in split_document(text):
            yield Passage(passage, str(path.relative_to(folder)))
