"""llama.cpp in-process (llama-cpp-python): streaming, cancellable, with stop sequences."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import llama_cpp
from llama_cpp import Llama

from parley.config import LLMConfig
from parley.core.interfaces import CancelToken, Prompt
from parley.core.threads import all_cores_but_one
from parley.engines.chat_template import ChatTemplate, as_text


@llama_cpp.llama_log_callback
def _quiet(level, text, user_data):  # llama.cpp logs to stderr even with verbose=False
    return None


llama_cpp.llama_log_set(_quiet, None)


def continuation(prompt: Prompt, said: str, template: ChatTemplate | None) -> Prompt:
    """A prompt whose completion is the rest of a reply that begins with ``said``.

    A completion prompt simply grows by ``said``. A chat prompt is rendered with the model's chat
    template and becomes a completion prompt; without a template the partial reply becomes an
    assistant message to go on from.
    """
    prompt = as_text(prompt, template)
    if prompt.text is not None:
        return replace(prompt, text=prompt.text + said)
    return replace(prompt, messages=[*prompt.messages, {"role": "assistant", "content": said}])


def model_template(llm: Llama, configured: str | None) -> ChatTemplate | None:
    """The configured template, else the one in the GGUF's metadata, with the model's end token."""
    source = configured or llm.metadata.get("tokenizer.chat_template")
    if source is None:
        return None
    eos = llm.token_eos()
    where = "chat_template" if configured else "the GGUF's tokenizer.chat_template"
    return ChatTemplate(source, llm._model.token_get_text(eos) if eos != -1 else "", where)


class LlamaCppEngine:
    def __init__(self, model_file: Path, config: LLMConfig, chat_format: str | None = None,
                 chat_template: str | None = None) -> None:
        self.config = config
        self.llm = Llama(
            model_path=str(model_file),
            n_ctx=config.context_size,
            n_threads=config.threads or all_cores_but_one(),
            seed=config.seed,
            chat_format=chat_format,
            verbose=False,
        )
        self.context_size = self.llm.n_ctx()
        # A named llama.cpp chat format wins over the GGUF's own template (as in llama.cpp itself).
        self.template = None if chat_format and not chat_template else model_template(self.llm, chat_template)
        # One llama.cpp context serves one generation at a time.
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings, store) -> "LlamaCppEngine":
        name = settings.stack.llm.model
        entry = settings.registry.get(name, "llm")
        model_file = store.require(name) / entry.files[0].name
        return cls(model_file, settings.stack.llm, chat_format=entry.chat_format,
                   chat_template=settings.persona.chat_template or entry.chat_template)

    def continue_from(self, prompt: Prompt, said: str) -> Prompt:
        """Carry on a reply another engine began (the fallback adapter, after a mid-reply failure)."""
        return continuation(prompt, said, self.template)

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def prefill(self, prompt: Prompt) -> None:
        """Evaluate a prompt now so that a later prompt sharing its prefix starts decoding at once."""
        for _ in self.stream(prompt, 1, CancelToken()):
            pass

    def stream(self, prompt: Prompt, max_tokens: int, cancel: CancelToken) -> Iterator[str]:
        prompt = as_text(prompt, self.template)
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
