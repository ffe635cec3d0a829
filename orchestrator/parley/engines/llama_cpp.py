"""llama.cpp in-process (llama-cpp-python): streaming, cancellable, with stop sequences."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import llama_cpp
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from parley.config import LLMConfig
from parley.interfaces import CancelToken, Prompt


@llama_cpp.llama_log_callback
def _quiet(level, text, user_data):  # llama.cpp logs to stderr even with verbose=False
    return None


llama_cpp.llama_log_set(_quiet, None)


def continuation(prompt: Prompt, said: str, tokenizer: Llama) -> Prompt:
    """A prompt whose completion is the rest of a reply that begins with ``said``; ``tokenizer`` is the
    model's own (its GGUF metadata carries the chat template, if any).

    A completion prompt simply grows by ``said``. A chat prompt is rendered with the model's own chat
    template (as llama.cpp would) and becomes a completion prompt; a model without a template in its
    GGUF gets the partial reply as an assistant message to go on from.
    """
    if prompt.text is not None:
        return replace(prompt, text=prompt.text + said)
    template = tokenizer.metadata.get("tokenizer.chat_template")
    if template is None:
        return replace(prompt, messages=[*prompt.messages, {"role": "assistant", "content": said}])
    token_text = lambda t: tokenizer._model.token_get_text(t) if t != -1 else ""  # noqa: E731
    rendered = Jinja2ChatFormatter(template, token_text(tokenizer.token_eos()), token_text(tokenizer.token_bos()))(
        messages=prompt.messages
    )
    return Prompt(text=rendered.prompt + said, stop=[*prompt.stop, *_as_list(rendered.stop)])


def _as_list(stop) -> list[str]:
    return [] if stop is None else [stop] if isinstance(stop, str) else list(stop)


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

    def continue_from(self, prompt: Prompt, said: str) -> Prompt:
        """Carry on a reply another engine began (the fallback adapter, after a mid-reply failure)."""
        return continuation(prompt, said, self.llm)

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
