"""llama.cpp in-process (llama-cpp-python): streaming, cancellable, with stop sequences."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import llama_cpp
from llama_cpp import Llama

from parley.config import LLMConfig
from parley.interfaces import CancelToken, Prompt


@llama_cpp.llama_log_callback
def _quiet(level, text, user_data):  # llama.cpp logs to stderr even with verbose=False
    return None


llama_cpp.llama_log_set(_quiet, None)


class LlamaCppEngine:
    def __init__(self, model_file: Path, config: LLMConfig, chat_format: str | None = None) -> None:
        self.config = config
        self.llm = Llama(
            model_path=str(model_file),
            n_ctx=config.context_size,
            n_threads=config.threads or os.cpu_count(),
            seed=config.seed,
            chat_format=chat_format,
            verbose=False,
        )
        self.context_size = self.llm.n_ctx()
        # One llama.cpp context serves one generation at a time.
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings, store) -> "LlamaCppEngine":
        name = settings.stack.llm.model
        entry = settings.registry.get(name, "llm")
        model_file = store.require(name) / entry.files[0].name
        return cls(model_file, settings.stack.llm, chat_format=entry.chat_format)

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def prefill(self, prompt: Prompt) -> None:
        """Evaluate a prompt now so that a later prompt sharing its prefix starts decoding at once."""
        for _ in self.stream(prompt, 1, CancelToken()):
            pass

    def stream(self, prompt: Prompt, max_tokens: int, cancel: CancelToken) -> Iterator[str]:
        sampling = dict(
            max_tokens=max_tokens,
            temperature=self.config.temperature,
            top_p=self.config.top_p,
            repeat_penalty=self.config.repeat_penalty,
            stop=prompt.stop or None,
            stream=True,
        )
        with self._lock:
            if prompt.messages is not None:
                chunks = self.llm.create_chat_completion(messages=prompt.messages, **sampling)
                pick = lambda c: c["choices"][0]["delta"].get("content")  # noqa: E731
            else:
                chunks = self.llm.create_completion(prompt=prompt.text, **sampling)
                pick = lambda c: c["choices"][0]["text"]  # noqa: E731
            try:
                for chunk in chunks:
                    if cancel.cancelled:
                        break
                    text = pick(chunk)
                    if text:
                        yield text
            finally:
                # Closing the generator stops llama.cpp from decoding further tokens.
                chunks.close()
