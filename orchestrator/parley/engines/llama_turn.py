"""Has the caller finished? A small language model's reading of the words heard at a pause.

The model reads the caller's words as the start of a user message, as its chat template writes one,
and gives the probability that the next token ends the sentence (a full stop, a question or
exclamation mark, or a line break). "Where can I" has almost none; "Where can I print my documents"
has a lot. Whisper's own punctuation is removed first (it ends fragments as sentences too), and the
first letter made a capital, as a turn's is.

The template is the registry entry's, else the GGUF's own; a model with neither reads the words as
plain text, which separates finished from unfinished less well.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import llama_cpp
import numpy as np
from llama_cpp import Llama

from parley.engines.chat_template import ChatTemplate
from parley.engines.llama_cpp import model_template

_CONTEXT = 256
_MARK = "\x00words\x00"
_SENTENCE_END = re.compile(r"\s*[.?!]+[\"')\]]*\s*|\s*\n+\s*")
_TRAILING = re.compile(r"[\s.?!,;:…\-–—]+$")


class LlamaEndOfTurn:
    def __init__(self, model_file: Path, chat_template: str | None = None, threads: int = 1) -> None:
        # A context of its own, so judging a pause never waits for a reply being generated. One
        # thread: it runs beside the early reply's LLM, and llama.cpp's threads wait for each other
        # by spinning, which on a busy CPU costs more than a second thread gains.
        self.llm = Llama(model_path=str(model_file), n_ctx=_CONTEXT, n_batch=_CONTEXT, n_threads=threads,
                         verbose=False)
        prefix = _user_prefix(model_template(self.llm, chat_template))
        self._prefix = self.llm.tokenize(prefix.encode("utf-8"), add_bos=True, special=True)
        vocab = range(self.llm.n_vocab())
        self._ends = np.array([t for t in vocab if _SENTENCE_END.fullmatch(self._piece(t))], np.int64)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings, store) -> "LlamaEndOfTurn":
        name = settings.stack.turn_taking.turn_model
        entry = settings.registry.get(name, "llm")
        return cls(store.require(name) / entry.files[0].name, entry.chat_template)

    def _piece(self, token: int) -> str:
        return self.llm.detokenize([token]).decode("utf-8", "replace")

    def probability(self, text: str) -> float:
        words = _TRAILING.sub("", text.strip())
        if not words:
            return 0.0
        # Whisper starts words it takes for a continuation in lower case; a turn starts with a capital.
        words = words[0].upper() + words[1:]
        # The last words matter: a long turn keeps its end.
        tail = self.llm.tokenize(words.encode("utf-8"), add_bos=False, special=False)
        tokens = self._prefix + tail[-(_CONTEXT - len(self._prefix)):]
        with self._lock:
            self.llm.reset()
            self.llm.eval(tokens)
            # Only the last position's logits are computed; read them from llama.cpp itself.
            last = llama_cpp.llama_get_logits_ith(self.llm.ctx, -1)
            logits = np.ctypeslib.as_array(last, shape=(self.llm.n_vocab(),)).astype(np.float64)
        log_probs = logits - np.logaddexp.reduce(logits)
        return float(np.exp(np.logaddexp.reduce(log_probs[self._ends])))


def _user_prefix(template: ChatTemplate | None) -> str:
    """What the chat template writes before a user's words (empty without a template)."""
    if template is None:
        return ""
    rendered = template.render([{"role": "user", "content": _MARK}])
    return rendered.split(_MARK, 1)[0] if _MARK in rendered else ""
