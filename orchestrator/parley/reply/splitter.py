"""Cut a streaming reply into sentences and clauses that can be spoken while the LLM still writes.

A boundary counts only once the character after it has arrived (a space or newline), so "3.5" or
"e.g." mid-stream are not cut. The first chunk is released at the first clause boundary after a few
words, because time to first audio matters most; later chunks wait for longer clauses so the voice
phrases them naturally. A first sentence with no early comma may also be cut before a word that
starts a phrase ("… at 6 pm | on weekends and …"), where a speaker could pause: its clause
would otherwise wait for the whole sentence, on the LLM and then on the voice.
"""

from __future__ import annotations

import re

from parley.config import SplitterConfig

_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]”’]*(?=\s)|\n")
_CLAUSE_END = re.compile(r"[,;:—–]+(?=\s)|\s[-–—]\s")
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "vs", "etc", "e.g", "i.e", "a.m", "p.m",
    "no", "fig", "approx", "dept", "univ", "ave", "rd", "mt",
}
_WORD = re.compile(r"\w+")
# A space before a complete word (the space after it has arrived) that starts a phrase.
_PHRASE_START = re.compile(r"\s(?=(?:and|but|or|so|because|which|who|where|when|while|until|on|in|at|for|with|"
                           r"from|near|after|before)\s)", re.IGNORECASE)


def _is_abbreviation(text: str) -> bool:
    """Whether the period that ends ``text`` ends an abbreviation or an initial, not a sentence."""
    match = re.search(r"(\S+)\.$", text)
    if not match:
        return False
    token = match.group(1).lower().lstrip("(\"'")
    return token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha())


class ClauseSplitter:
    def __init__(self, config: SplitterConfig | None = None) -> None:
        self.config = config or SplitterConfig()
        self._buffer = ""
        self._emitted = 0

    def feed(self, text: str) -> list[str]:
        self._buffer += text
        out = []
        while (chunk := self._next_chunk()) is not None:
            out.append(chunk)
        return out

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer.strip(), ""
        if rest and _WORD.search(rest):
            self._emitted += 1
            return [rest]
        return []

    def _min_words(self) -> int:
        return self.config.first_clause_min_words if self._emitted == 0 else self.config.clause_min_words

    def _cut(self, end: int) -> str | None:
        chunk = self._buffer[:end].strip()
        self._buffer = self._buffer[end:].lstrip()
        if not _WORD.search(chunk):
            return None  # stray punctuation: nothing to say
        self._emitted += 1
        return chunk

    def _next_chunk(self) -> str | None:
        while True:
            buf = self._buffer
            cut = None
            for m in _SENTENCE_END.finditer(buf):
                if m.group() == "\n" or not _is_abbreviation(buf[: m.end()].rstrip("\"')]”’")):
                    cut = m.end()
                    break
            for m in _CLAUSE_END.finditer(buf):
                if cut is not None and m.end() >= cut:
                    break
                if len(_WORD.findall(buf[: m.end()])) >= self._min_words():
                    cut = m.end()
                    break
            if cut is None and self._emitted == 0 and self.config.first_phrase_min_words:
                for m in _PHRASE_START.finditer(buf):
                    if len(_WORD.findall(buf[: m.start()])) >= self.config.first_phrase_min_words:
                        cut = m.start()
                        break
            if cut is None and len(buf) > self.config.max_chars:
                space = buf.rfind(" ", 0, self.config.max_chars)
                cut = space if space > 0 else self.config.max_chars
            if cut is None:
                return None
            chunk = self._cut(cut)
            if chunk is not None:
                return chunk
