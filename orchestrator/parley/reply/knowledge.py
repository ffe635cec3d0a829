"""What a persona knows, as passages, and the passages that match a question.

A persona's knowledge is its facts (one per line of ``knowledge``) and the Markdown and text files
of its ``documents`` folder, split into passages of a few sentences. They are indexed once, at start,
with BM25 (bm25s, English stemming), so a knowledge base far larger than the LLM's context costs
nothing per question but the search. A question is matched only by passages that share enough of
its content words (``grounding.min_coverage``): BM25 alone ranks any passage that shares one word,
however incidental, and a passage that does not cover the question invites the LLM to fill the gap.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import bm25s

from parley.config import ConfigError, Persona
from parley.reply.words import STOPWORDS, content_terms, name_phrases, stemmer

DOCUMENT_SUFFIXES = (".md", ".markdown", ".txt")
# A passage is cut at about this many words: each retrieved passage costs prompt tokens per question.
_PASSAGE_WORDS = 60


@dataclass(frozen=True)
class Passage:
    text: str
    source: str  # "facts" or the document's path relative to the documents folder


def _sentences(paragraph: str) -> list[str]:
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
        for sentence in _sentences(block):
            if current and len(" ".join(current + [sentence]).split()) > _PASSAGE_WORDS:
                passages.append(" ".join(current))
                current = []
            current.append(sentence)
        if current:
            passages.append(" ".join(current))
    return [f"{heading}: {p}" if heading and not p.startswith(heading) else p for p in passages]


def facts(persona: Persona) -> list[str]:
    """The persona's own facts: one per line of ``knowledge``, bullets removed."""
    lines = (re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", line).strip() for line in persona.knowledge.splitlines())
    return [line for line in lines if line]


class Knowledge:
    """The passages of one persona, indexed; ``search`` gives those that match a question."""

    def __init__(self, passages: list[Passage], min_coverage: float = 0.3, max_passages: int = 2) -> None:
        self.passages = passages
        self.min_coverage = min_coverage
        self.max_passages = max_passages
        self._terms = [content_terms(p.text) for p in passages]
        self._vocabulary = sorted(set().union(set(), *self._terms))
        self._index = None
        if passages:
            self._index = bm25s.BM25()
            self._index.index(self._tokens([p.text for p in passages]), show_progress=False)

    @classmethod
    def of(cls, persona: Persona) -> "Knowledge":
        passages = [Passage(text, "facts") for text in facts(persona)]
        if persona.documents is not None:
            passages += list(read_documents(Path(persona.documents)))
        grounding = persona.grounding
        return cls(passages, grounding.min_coverage, grounding.max_passages)

    @staticmethod
    def _tokens(texts: list[str]):
        return bm25s.tokenize(texts, stopwords=sorted(STOPWORDS), stemmer=stemmer(), show_progress=False)

    def vocabulary(self, limit: int = 24) -> list[str]:
        """The names the knowledge uses most, most used first: they prompt the speech recogniser."""
        counts = Counter(phrase for p in self.passages for phrase in name_phrases(p.text))
        return [phrase for phrase, _ in counts.most_common(limit)]

    def coverage(self, question: str, passages: list[Passage]) -> float:
        """The share of ``question``'s content words that ``passages`` contain (1.0: all of them)."""
        wanted = content_terms(question)
        terms = set().union(set(), *(content_terms(p.text) for p in passages))
        return _covered(self._forms(wanted), terms) if wanted else 1.0

    def _forms(self, wanted: set[str]) -> dict[str, set[str]]:
        # A word also matches the longer words it begins ("book": "bookshop"), as compounds do.
        return {t: {v for v in self._vocabulary if len(t) >= 4 and v.startswith(t)} | {t} for t in wanted}

    def asks_for_facts(self, question: str) -> bool:
        """Whether ``question`` has a subject (content words), unlike "hello" or "thanks"."""
        return bool(content_terms(question))

    def search(self, question: str) -> list[Passage]:
        """The passages that cover the most of ``question`` (at least ``min_coverage`` of it), in
        BM25's order; none when nothing covers enough. A passage that covers less than the best one
        is left out: a small model mixes the facts of a second, weaker match into its answer."""
        wanted = content_terms(question)
        if not wanted or self._index is None:
            return []
        longer = self._forms(wanted)
        query = [sorted(set().union(*longer.values()) & set(self._vocabulary))]  # stemmed already
        if not query[0]:
            return []
        k = min(len(self.passages), max(self.max_passages * 4, 8))
        ids, scores = self._index.retrieve(query, k=k, show_progress=False)
        ranked = [(_covered(longer, self._terms[i]), n, i) for n, (i, score) in enumerate(zip(ids[0], scores[0]))
                  if score > 0]
        best = max((coverage for coverage, _, _ in ranked), default=0.0)
        if best < self.min_coverage:
            return []
        return [self.passages[i] for coverage, _, i in ranked if coverage == best][: self.max_passages]


def _covered(forms: dict[str, set[str]], terms: set[str]) -> float:
    return sum(bool(f & terms) for f in forms.values()) / len(forms)


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
