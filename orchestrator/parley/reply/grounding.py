"""Is a clause of the reply backed by what the avatar was given? Checked before it is spoken.

A small model asked something its passages do not answer fills the gap with a plausible number,
name, yes, or place. So each clause is checked, as it leaves the splitter, for four kinds of claim:
- numbers and times ("10", "ten", "10:30"): each value must appear in a source;
- names (capitalised words past the start of a sentence, or a run of them anywhere): each must
  appear in a source;
- a yes or no: the subject it answers (the question's content words and the clause's own) must all
  be found in the passages;
- what the clause is about: when the turn has passages, a clause whose content words are mostly
  new to them ("on the south side, by the pharmacy") says something they do not;
- how it pairs them: the passages' words a clause uses must all be found in one passage, so a clause
  cannot join a place from one passage to a building or a service from another ("the student centre
  has a pool").
Sources are the question and the passages retrieved for it (and, for names, the persona's name and
role). A clause with no claim passes: style is the LLM's to choose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from parley.config import Persona
from parley.reply.knowledge import Passage
from parley.reply.words import WORD, bare, content_terms, names, numbers

_ENDS_SENTENCE = re.compile(r"[.!?…][\"')\]”’]*\s*$")
_NEW_TERMS = 2
_YES_NO = re.compile(r"^\W*(yes|yeah|yep|no|nope)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Unsupported:
    """Why a clause may not be spoken: the claim found in no source."""

    kind: str  # "number", "name", "yes/no", "subject" or "pairing"
    claim: str

    def __str__(self) -> str:
        if self.kind == "pairing":
            return f"the terms {self.claim!r} are in no one passage together"
        return f"{self.kind} {self.claim!r} is in none of the sources"


class Grounding:
    """The sources of one turn, and the check each clause of its reply goes through."""

    def __init__(self, persona: Persona, question: str, passages: list[Passage]) -> None:
        # Not the examples: their facts answer other questions ("10 pm" is no answer for the tours).
        sources = [question, *(p.text for p in passages)]
        persona_names = [persona.name, persona.role, persona.user_label]
        self.numbers = set().union(*(numbers(s) for s in sources))
        self.words = {bare(w) for s in sources + persona_names for w in WORD.findall(s)}
        self.each_passage = [content_terms(p.text) for p in passages]
        self.passage_terms = set().union(*self.each_passage)
        self.question_terms = content_terms(question)
        self.known_terms = self.passage_terms | self.question_terms | content_terms(" ".join(persona_names))
        self._sentence_ended = True

    def check(self, clause: str) -> Unsupported | None:
        """The first claim of ``clause`` that no source backs, or None when it may be spoken. Clauses
        are checked in the order they are said (whether one starts a sentence depends on the last)."""
        starts_sentence, self._sentence_ended = self._sentence_ended, bool(_ENDS_SENTENCE.search(clause))
        claims = [("number", v) for v in sorted(numbers(clause) - self.numbers)]
        claims += [("name", n) for n in sorted(names(clause, mid_sentence=not starts_sentence) - self.words)]
        if claims:
            return Unsupported(*claims[0])
        terms = content_terms(clause)
        yes_no = _YES_NO.match(clause)
        if yes_no and (not self.passage_terms or (self.question_terms | terms) - self.passage_terms):
            return Unsupported("yes/no", yes_no.group(1))
        new = terms - self.known_terms
        # A word or two of its own is phrasing ("located", "take"); most of a clause is a statement.
        if self.passage_terms and len(new) >= _NEW_TERMS and len(new) > len(terms) / 2:
            return Unsupported("subject", " ".join(sorted(new)))
        used = terms & self.passage_terms
        if len(self.each_passage) > 1 and not any(used <= mine for mine in self.each_passage):
            return Unsupported("pairing", " ".join(sorted(used)))
        return None

    def uses(self, said: str) -> bool:
        """Whether ``said`` states anything of the passages beyond what the question already said."""
        return bool((content_terms(said) & self.passage_terms) - self.question_terms)
