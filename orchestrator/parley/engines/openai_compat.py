"""Any local LLM server that speaks the OpenAI-compatible API: Ollama, vLLM, LM Studio, llama.cpp's
server, llama-cpp-python's. Chat prompts go to /chat/completions (the server applies the model's
template) unless the persona gives a chat template, completion prompts to /completions; the answer
is always streamed, and cancelling the turn closes the stream, so the server stops generating.

The server's tokenizer is not reachable through this API, so the prompt's length is estimated
generously (a token per three bytes) to keep the prompt inside ``llm.context_size``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import openai

from parley.config import LLMConfig
from parley.core.errors import ParleyError
from parley.core.interfaces import CancelToken, Prompt
from parley.engines.chat_template import ChatTemplate, as_text
from parley.engines.openai_client import OpenAIClient, ServerError

log = logging.getLogger("parley.llm")

_BYTES_PER_TOKEN = 3


class OpenAICompatibleEngine:
    label = "OpenAI-compatible server"

    def __init__(self, config: LLMConfig, chat_template: str | None = None) -> None:
        self.config = config
        self.api = OpenAIClient("llm", config)
        self.where = self.api.where
        self.client = self.api.client
        self.context_size = config.context_size
        self.template = ChatTemplate(chat_template, where="persona chat_template") if chat_template else None

    @classmethod
    def from_settings(cls, settings, store) -> "OpenAICompatibleEngine":
        return cls(settings.stack.llm, settings.persona.chat_template)

    def count_tokens(self, text: str) -> int:
        return len(text.encode("utf-8")) // _BYTES_PER_TOKEN + 1

    def ready(self) -> bool:
        return self.api.ready()

    def prefill(self, prompt: Prompt) -> None:
        """Ask for one token, so a server that caches prompts (llama.cpp's does) has the persona's."""
        try:
            for _ in self.stream(prompt, 1, CancelToken()):
                pass
        except ParleyError as exc:
            log.warning("llm: no head start: %s", exc)

    def stream(self, prompt: Prompt, max_tokens: int, cancel: CancelToken) -> Iterator[str]:
        prompt = as_text(prompt, self.template)
        c = self.config
        sampling = dict(model=c.model, max_tokens=max_tokens, temperature=c.temperature, top_p=c.top_p,
                        stop=prompt.stop or None, stream=True)
        if c.seed >= 0:
            sampling["seed"] = c.seed
        try:
            if prompt.messages is not None:
                raw = self.client.chat.completions.with_raw_response.create(messages=prompt.messages, **sampling)
                pick = lambda chunk: chunk.choices[0].delta.content if chunk.choices else None  # noqa: E731
            else:
                raw = self.client.completions.with_raw_response.create(prompt=prompt.text, **sampling)
                pick = lambda chunk: chunk.choices[0].text if chunk.choices else None  # noqa: E731
        except openai.OpenAIError as exc:
            raise self.api.error(exc, "answer") from None
        kind = raw.headers.get("content-type") or "no content type"
        if not kind.startswith("text/event-stream"):
            raw.http_response.close()
            raise ServerError(f"llm: the LLM server at {self.where} did not stream its answer (it sent {kind}); "
                                 'Parley needs a server that supports "stream": true')
        chunks = raw.parse()
        # Closing the response from the cancelling thread ends a read that is waiting on the server.
        cancel.on_cancel(chunks.close)
        try:
            for chunk in chunks:
                if cancel.cancelled:
                    return
                text = pick(chunk)
                if text:
                    yield text
        except Exception as exc:  # the server went away mid-reply (the HTTP library's own errors)
            if not cancel.cancelled:
                raise self.api.error(exc, "answer") from None
        finally:
            chunks.close()

    def close(self) -> None:
        self.api.close()
