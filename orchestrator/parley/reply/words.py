"""The words of a text that grounding looks at: its subject (content words), its numbers, its names."""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

# Words that carry no subject: question words, pronouns, auxiliaries, fillers. A question made only
# of these ("hello", "who are you?") asks for no fact.
STOPWORDS = frozenset("""
a about above after again all also am an and any are as ask at be been being but by can could
did do does doing done for from get gets go goes going got had has have having he her here hers
him his how i if in into is it its just know let like may me might
more most much must my need no nor not now of off ok okay on once one only or other our ours out
please say see she should so some such tell than thank thanks that the their them then
there these they this those to too up us very want was we well were what when where which
while who whom whose why will with would yes you your yours hello hi hey goodbye bye
morning afternoon evening sorry sure great good nice cool alright fine right really happy glad
help welcome course certainly absolutely often many time find don doesn didn isn aren wasn weren won wouldn
couldn shouldn haven hasn
""".split())
_TERM = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")  # "2nd" counts as 2
_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
    "thousand": 1000, "noon": 12, "midnight": 12, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
    "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10,
}
# "one" is as often a pronoun ("the one by the gate") as a number ("first" a word of order).
_AMBIGUOUS = {"one"}
# A sentence ends at . ! ? ; or : but not after a title or an initial ("Dr. J. Smith").
_SENTENCE = re.compile(r"(?<=[.!?;:])(?<!\bDr\.)(?<!\bMr\.)(?<!\bMs\.)(?<!\bMrs\.)(?<!\bSt\.)(?<!\b[A-Z]\.)\s+")
# The words that open the clause a question asks ("…, but where do I add a printer?").
_ASKS = re.compile(r"\b(?:what|where|when|which|who|whom|whose|how|why)\b", re.IGNORECASE)
_POINTERS = {"that", "this", "those", "these", "which", "what", "many", "much"}
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?|[^\sA-Za-z0-9]")
# Capitalised for grammar, not because they name anything.
_NOT_NAMES = {"i", "i'm", "i'll", "i've", "i'd", "ok", "okay"}


@lru_cache(maxsize=1)
def stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def content_terms(text: str) -> set[str]:
    """The stemmed content words of ``text``: what a passage and a question must share."""
    words = [w.replace("’", "'").split("'")[0] for w in _TERM.findall(text.lower())]  # "where's": "where"
    return set(stemmer().stemWords([w for w in words if w not in STOPWORDS]))


def subject_terms(text: str) -> list[str]:
    """The stemmed content words of ``text`` in the order they come, less the one a question word
    asks for ("which building", "how many minutes": the kind of answer) and one that points back
    ("that building": the one just talked about): what it asks of ("the cafeteria", "open" in
    "until what time is the cafeteria open?")."""
    found, skip = [], False
    for word in _TOKEN.findall(text):
        terms = content_terms(word)
        if terms and not skip:
            found += sorted(terms)
        skip = word.lower() in _POINTERS if not terms else False
    return list(dict.fromkeys(found))


def asked_clause(text: str) -> str:
    """The part of ``text`` that asks, from its last question word on ("where do I add a printer
    from?" of "I know laptops go to the Civic Centre, but where do I add a printer from?"); all of
    it when it has none (a yes/no question)."""
    found = list(_ASKS.finditer(text))
    return text[found[-1].start():] if found else text


def numbers(text: str) -> set[str]:
    """Every number in ``text``, in digits: "10:00" and "ten" are both "10"; "8:30" stays "8:30"."""
    found = {re.sub(r":00$", "", match.replace(",", "")) for match in _NUMBER.findall(text)}
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in _NUMBER_WORDS and word not in _AMBIGUOUS:
            found.add(str(_NUMBER_WORDS[word]))
    return found


def name_phrases(text: str, mid_sentence: bool = False) -> list[str]:
    """Runs of capitalised words that name something ("Hartley Hall", "John Smith"), as written. The
    first word of a sentence is capitalised anyway, so it never counts. ``mid_sentence``: ``text``
    continues a sentence, so its first word is not a sentence's first."""
    phrases = []
    for n, sentence in enumerate(_SENTENCE.split(text.strip())):
        run: list[str] = []
        words = WORD.findall(sentence)
        if words and not (n == 0 and mid_sentence) and sentence.lstrip("\"'“‘(").startswith(words[0]):
            words = words[1:]
        for word in [*words, ""]:
            if word and word[0].isupper() and word.lower() not in _NOT_NAMES:
                run.append(word)
            elif run:
                phrases.append(" ".join(run))
                run = []
    return phrases


def names(text: str, mid_sentence: bool = False) -> set[str]:
    """The words of ``text``'s name phrases, lower-cased, possessive dropped."""
    return {bare(word) for phrase in name_phrases(text, mid_sentence) for word in phrase.split()}


def bare(word: str) -> str:
    """``word`` lower-cased, without a possessive "'s"."""
    return re.sub(r"['’]s$", "", word.lower())
