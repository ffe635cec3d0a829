"""The passages that match a question, and the sentence that answers it.

A persona's passages (``parley.reply.passages``: its facts and its documents) are indexed once, at start,
with BM25 (bm25s, English stemming) and, with a sentence-embedding model, by meaning (each passage's
vector, kept on disk by its text's hash), so a knowledge base far larger than the LLM's context costs
nothing per question but the search.

A passage matches a question when it shares enough of its content words (``grounding.min_coverage``;
with a sentence-embedding model, ``grounding.sure_coverage``) or, by meaning, when it is close enough
to it (``grounding.min_similarity``) and clearly closer than any other passage
(``grounding.min_margin``): everyday words ("grab lunch") find the fact that says "cafeteria", while
a question far from everything the knowledge says matches nothing and is declined. A match is sure
when its words cover the question well or its meaning is close (``grounding.sure_similarity``); one
that is not is said as a guess. ``answer`` then picks, of the matched passages, the sentence or
self-contained clause closest to the question: what is said, as written.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

import bm25s
import numpy as np

from parley.config import Persona
from parley.reply.asks import asked_kind, cut_to_days, days_asked, gives
from parley.reply.passages import Passage, persona_passages, sentences
from parley.reply.words import (
    STOPWORDS,
    WORD,
    asked_clause,
    bare,
    content_terms,
    name_phrases,
    names,
    stemmer,
    subject_terms,
)


class Knowledge:
    """The passages of one persona, indexed; ``search`` gives those that match a question."""

    def __init__(self, passages: list[Passage], min_coverage: float = 0.3, max_passages: int = 2,
                 embed: Callable[..., np.ndarray] | None = None, min_similarity: float = 0.3,
                 min_margin: float = 0.03, sure_coverage: float = 0.5, sure_similarity: float = 0.45,
                 domain: str = "") -> None:
        self.passages = passages
        # The words of what the whole knowledge is about ("routers", for a router's support) and the
        # persona's name: they tell no fact from another.
        self.domain = content_terms(domain)
        self.min_coverage = min_coverage
        self.max_passages = max_passages
        self.min_similarity = min_similarity
        self.min_margin = min_margin
        self.sure_coverage = sure_coverage
        self.sure_similarity = sure_similarity
        self._terms = [content_terms(p.text) for p in passages]
        self._vocabulary = sorted(set().union(set(), *self._terms))
        self._words = {bare(w) for text in [domain, *(p.text for p in passages)] for w in WORD.findall(text)}
        self._known = set(self._vocabulary)
        self._index = None
        if passages:
            self._index = bm25s.BM25()
            self._index.index(self._tokens([p.text for p in passages]), show_progress=False)
        # Meaning: a vector per passage and per unit that may be said of it (``answer_units``), from
        # ``embed`` (texts → unit rows; ``remember``: kept on disk). None: words alone.
        self._embed = embed
        self._units = {unit for p in passages for unit in answer_units(p.text)}
        self._clauses = [content_terms(c) for p in passages for sentence in sentences(p.text)
                         for c in sentence.split(";")]
        self._vectors = self._unit_vectors = None
        if embed is not None and passages:
            self._vectors = embed([p.text for p in passages], remember=True)
            units = sorted(self._units)
            self._unit_vectors = dict(zip(units, embed(units, remember=True)))

    @classmethod
    def of(cls, persona: Persona, embed: Callable[..., np.ndarray] | None = None) -> "Knowledge":
        passages = persona_passages(persona)
        grounding = persona.grounding
        return cls(passages, grounding.min_coverage, grounding.max_passages, embed, grounding.min_similarity,
                   grounding.min_margin, grounding.sure_coverage, grounding.sure_similarity,
                   f"{persona.name}, {persona.role}")

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
        """The passages that match ``question`` best (see the module doc); none when nothing does."""
        return self.match(question)[0]

    def match(self, question: str) -> tuple[list[Passage], bool]:
        """The passages that match ``question`` best, and whether the match is sure: their words cover
        enough of the question (``grounding.sure_coverage``), or their meaning is close to it
        (``grounding.sure_similarity``); a match by words, only when the question has at most half as
        many words the knowledge never uses as words it shares with them. A passage that matches less
        than the best one is left out: a small model mixes the facts of a second, weaker match into
        its answer. A question that names something the knowledge never names is a guess."""
        found = self._match(question)
        without = self._without_domain(question)
        if without != question:
            # "router" may have pulled the question to the facts that say it: asked without it, a
            # question that matches other facts matches them, as a guess.
            again = self._match(without)
            found = (again[0], False) if again[0] and again[0] != found[0] else found
        passages, sure = self._about(question, found)
        # A name the knowledge never uses ("at the top of Everest") is what the question is about; a
        # day's is only capitalised ("on Sunday": ``cut_to_days`` reads it).
        unknown = [name for name in names(question) - self._words if not days_asked(name)]
        return passages, sure and not unknown

    def _about(self, question: str, found: tuple[list[Passage], bool]) -> tuple[list[Passage], bool]:
        """``found``, as a guess when its passages leave out what the question asks of (the first known
        word of its asked clause) and another passage names it: "is the bookshop in Hartley Hall?" or
        "until when is the cafeteria open?" shares its other words ("Hartley Hall", "open") with the
        library's fact. Such a question pairs what no fact pairs."""
        passages, sure = found
        held = set().union(set(), *(content_terms(p.text) for p in passages))
        known = [n for n in subject_terms(question) if n in self._known and n not in self.domain]
        if not sure or set(known) <= held:
            return found
        clause = asked_clause(question)
        if _POINTS_BACK.search(clause):  # "where does it leave from?": it asks of what was asked before
            return found
        asked = [n for n in subject_terms(clause) if n in known] or (known if clause == question else [])
        return passages, not asked or asked[0] in held

    def _match(self, question: str) -> tuple[list[Passage], bool]:
        if not self.passages:
            return [], False
        coverage = self._coverages(content_terms(question))
        if self._vectors is None:
            best = max(coverage.values(), default=0.0)
            return ([], False) if best < self.min_coverage else (
                [self.passages[i] for i, c in coverage.items() if c == best][: self.max_passages], True)
        similarity = self._vectors @ self._embed([question])[0]
        ranked = np.sort(similarity)[::-1]
        margin = ranked[0] - (ranked[1] if len(ranked) > 1 else 0.0)
        score = {i: float(similarity[i]) + coverage.get(i, 0.0) for i in range(len(self.passages))}
        # With meaning to go by, a few shared words ("books" in "bookshop") are no match by themselves.
        worded = {i for i, c in coverage.items() if c >= self.sure_coverage}
        meant = {i for i in score if similarity[i] >= self.min_similarity and similarity[i] == ranked[0]
                 and margin >= self.min_margin}
        if not worded | meant:
            return [], False
        best = max(score[i] for i in worded | meant)
        chosen = [i for i in sorted(worded | meant, key=lambda i: -score[i]) if score[i] >= best - self.min_margin]
        chosen = chosen[: self.max_passages]
        # Words the knowledge never uses may be what the question is about ("the area of a triangle",
        # "a solid blue light"): a match by words is sure only when it shares twice as many words.
        wanted = content_terms(question)
        unknown = [t for t, f in self._forms(wanted).items() if not f & self._known and not t.isdigit()]
        worded = {i for i in worded if 2 * len(unknown) <= coverage[i] * len(wanted)}
        sure = any(i in worded or similarity[i] >= self.sure_similarity for i in chosen)
        return [self.passages[i] for i in chosen], sure

    def _without_domain(self, question: str) -> str:
        """``question`` without the words of what the whole knowledge is about: asked about a router,
        "router" pulls the question towards the facts that say it, whatever it asks about them."""
        kept = [w for w in question.split() if not content_terms(w) & self.domain]
        return " ".join(kept) if content_terms(" ".join(kept)) else question

    def names_which(self, question: str, answer: str) -> bool:
        """Whether ``question`` tells ``answer`` from the other clauses of the knowledge that share its
        words with it: asked what "a solid green light" means, the clauses about the red and the white
        light both share "light", and only a word of one of them ("red") says which the caller means."""
        alike = self._alike(answer)
        if alike is not None and not self._named(question, alike):
            return False  # "what does a blue light mean?" and the red and the white one, said whole
        forms = self._forms(content_terms(question))
        mine = content_terms(answer)
        shared = set().union(set(), *(f & mine for f in forms.values()))
        siblings = [terms for terms in self._clauses if terms & shared and not (terms <= mine or mine <= terms)]
        if not siblings:
            return True
        own = mine - set().union(*siblings)
        return any(f & own for f in forms.values())

    def _coverages(self, wanted: set[str]) -> dict[int, float]:
        """The share of the question's content words (``wanted``) each passage BM25 finds contains."""
        if not wanted or self._index is None:
            return {}
        longer = self._forms(wanted)
        query = [sorted(set().union(*longer.values()) & set(self._vocabulary))]  # stemmed already
        if not query[0]:
            return {}
        k = min(len(self.passages), max(self.max_passages * 4, 8))
        ids, scores = self._index.retrieve(query, k=k, show_progress=False)
        return {int(i): _covered(longer, self._terms[i]) for i, score in zip(ids[0], scores[0]) if score > 0}

    def answer(self, question: str, passages: list[Passage], topic: str | None = None) -> str:
        """The sentence or self-contained clause of ``passages`` that answers ``question`` best, as
        written: one that gives the kind of answer asked for (``parley.reply.asks``) if any does, then
        by meaning where there is a model, else by the question's words it contains. The passages of a
        follow-up were found with ``topic`` (the question with the one before it); which of their
        sentences answers is up to what the follow-up itself asks ("and the distance around it?"),
        unless it names nothing. Asked about one part of the week, the other's hours are cut off."""
        sentence_of = {unit: sentence for p in passages for sentence in sentences(p.text)
                       for unit in answer_units(sentence)}
        kind = asked_kind(question)
        units = [u for u in sentence_of if gives(u, kind)] or list(sentence_of)
        asks = question if content_terms(question) else topic or question
        wanted = self._forms(content_terms(asks))
        words = np.array([_covered(wanted, content_terms(u)) if wanted else 0.0 for u in units])
        if self._unit_vectors is None or len(units) == 1:
            return cut_to_days(units[int(np.argmax(words))], asks)
        asked = self._embed([asks])[0]
        closeness = np.stack([self._unit_vectors[u] for u in units]) @ asked
        best = units[int(np.argmax(closeness + words / 4))]
        return cut_to_days(self._one_of_alike(sentence_of[best], best, asks, kind, asked), asks)

    def _one_of_alike(self, sentence: str, best: str, asks: str, kind: str | None, asked: np.ndarray) -> str:
        """Of a sentence whose clauses tell alike facts about different things ("a red light means …;
        a blinking white light means …", "area is …; circumference is …"), the clause closest in
        meaning to a question that names what is particular to one of them: said whole, the others
        are the confusable answers; chosen by the words they share with the question, the one that
        names the sentence's subject ("area of a circle") wins whatever was asked. A question that
        names two is answered with the whole sentence, and so is one that names none (a guess:
        ``names_which``)."""
        alike = self._alike(sentence)
        named = None if alike is None else self._named(asks, alike)
        if named != 1:
            return sentence if named == 0 and gives(sentence, kind) else best
        clauses = [c for c in alike if gives(c, kind)] or list(alike)
        return max(clauses, key=lambda c: float(self._unit_vectors[c] @ asked))

    def _alike(self, sentence: str) -> dict[str, set[str]] | None:
        """The clauses of ``sentence`` with the words particular to each, when every clause can be said
        alone and two share words (the mark of alike facts); else None. Clauses that tell different
        things of one subject ("has a pool and a gym; a student card gets you in") stay together."""
        clauses = answer_units(sentence)[1:]
        if len(clauses) < 2 or len(clauses) != len(sentence.split(";")):
            return None  # one clause, or one that points back: the sentence is said whole
        terms = [content_terms(c) - self.domain for c in clauses]
        if not any(a & b for n, a in enumerate(terms) for b in terms[n + 1 :]):
            return None
        return {c: mine - set().union(*(t for t in terms if t is not mine)) for c, mine in zip(clauses, terms)}

    def _named(self, question: str, alike: dict[str, set[str]]) -> int:
        """How many of the alike clauses ``question`` names by a word particular to it."""
        forms = set().union(set(), *self._forms(content_terms(question) - self.domain).values())
        return sum(bool(forms & own) for own in alike.values())


# A clause that points back to what its sentence named before it cannot be said alone.
_POINTS_BACK = re.compile(r"\b(there|it|its|they|them|their|this|that|these|those|here)\b", re.IGNORECASE)


def answer_units(passage: str) -> list[str]:
    """What may be said of a passage: each sentence, and each clause of it (between semicolons) that
    does not point back to the rest of the sentence."""
    units = []
    for sentence in sentences(passage):
        clauses = [c.strip() for c in sentence.split(";") if c.strip()]
        units.append(sentence)
        if len(clauses) > 1:
            units += [_ended(c[0].upper() + c[1:]) for c in clauses if not _POINTS_BACK.search(c)]
    return list(dict.fromkeys(units))


def _ended(clause: str) -> str:
    return clause if clause[-1] in ".!?" else clause + "."


def _covered(forms: dict[str, set[str]], terms: set[str]) -> float:
    return sum(bool(f & terms) for f in forms.values()) / len(forms)
