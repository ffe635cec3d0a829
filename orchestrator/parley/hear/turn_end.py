"""Does what the caller said so far sound finished? Read from the words Whisper heard at the pause.

Whisper punctuates a fragment as if it were a sentence ("Where is the." for a caller who paused to
think), so the punctuation alone cannot say; the last word can. English rarely ends a sentence on an
article, a conjunction, a possessive or a hesitation, and ends a statement on a preposition or a
helping verb only in a question ("Who should I talk to?") or after its subject ("Yes, it is.").
Only words Whisper ended as a sentence count as finished: a pause at a comma comes out without one.
This is a cheap, bounded judgement: the endpointer waits longer after an unfinished-sounding pause,
never for ever (``turn_taking.unfinished_wait_ms``).
"""

from __future__ import annotations

import re

# Never the last word of a finished sentence (fillers included: Whisper writes "Um" as "M" or nothing).
_DANGLING = frozenset("""
a an the and or but nor because although though if unless whereas while than my your our their
its whose some any um uh er erm uhm hm hmm mm m ah eh like i'm i'd i'll we're you're they're
""".split())
# Whisper tends to hear an article said last, before a pause, as a demonstrative ("Can I use the ..."
# comes out "Can I use that?"): so a demonstrative at the end is taken as a trailing article. A caller
# who did mean "Can I use that?" is answered after the longer wait, never cut off.
_MAYBE_ARTICLE = frozenset("that this these those".split())
# A stranded preposition ends a question whose object is the question word ("Where are you from?")
# or a pronoun ("What is it for?"), not one that stops after a verb ("How do I get to ...").
_PREPOSITIONS = frozenset("""
to of in on at for with from by about into onto over under near between through towards toward
""".split())
_OBJECTS = frozenset("it you them me us him her one".split())
_OBJECT_QUESTIONS = frozenset("where what who whom which".split())
# A helping verb ends a sentence after its subject ("Yes, it is.") or inside an indirect question
# ("... where Hartley Hall is?"), not right after the question word ("Where is ...").
_HELPING = frozenset("""
is are was were be been being am do does did can could would should will shall may might must
have has had get go going want need
""".split())
_SUBJECTS = frozenset("i you we they he she it there one".split())
_QUESTION_WORDS = frozenset("where when what which who how why".split())
_OPEN_END = re.compile(r"(,|;|:|-|—|–|\.\.\.|…)\s*$")


def looks_finished(text: str | None) -> bool | None:
    """True if ``text`` reads as a finished turn, False if it trails off (or holds no words: a filler
    Whisper left out), None if it cannot tell: no decode, or words Whisper did not end as a sentence
    (a speaker's comma pause, "... one by one")."""
    if text is None:
        return None
    text = text.strip()
    words = re.findall(r"[a-z']+", text.lower())
    if not words or _OPEN_END.search(text):
        return False
    last, before = words[-1].strip("'"), words[-2] if len(words) > 1 else ""
    if last in _DANGLING or last in _MAYBE_ARTICLE:
        return False
    if last in _PREPOSITIONS:
        return before in _OBJECTS or (words[0] in _OBJECT_QUESTIONS and text.endswith("?"))
    if last in _HELPING:
        return before in _SUBJECTS or any(w in _QUESTION_WORDS for w in words[:-2])
    if last in _QUESTION_WORDS:
        return len(words) <= 2  # "Sorry, where?"; "Can you tell me where ..." trails off
    return True if text.endswith((".", "?", "!")) else None
