"""Any local LLM server that speaks the OpenAI-compatible API: Ollama, vLLM, LM Studio, llama.cpp's
server, llama-cpp-python's. Chat prompts go to /chat/completions (the server applies the model's
template) unless the persona gives a chat template, completion prompts to /completions; the answer
is always streamed, and cancelling the turn closes the stream, so the server stops generating.

The server's tokenizer is not reachable through this API, so the prompt's length is estimated
generously (a token per three bytes) to keep the prompt inside ``llm.context_size``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import openai

from parley.config import LLMConfig
from parley.engines.chat_template import ChatTemplate, as_text
from parley.errors import EngineUnavailable, ParleyError
from parley.interfaces import CancelToken, Prompt

log = logging.getLogger("parley.llm")

_BYTES_PER_TOKEN = 3


class LLMServerError(ParleyError):
    """The LLM server answered, but not with a reply: a 4xx or 5xx, or a reply that does not stream."""


class OpenAICompatibleEngine:
    label = "OpenAI-compatible server"

    def __init__(self, config: LLMConfig, chat_template: str | None = None) -> None:
        self.config = config
        self.where = config.base_url.rstrip("/")
        self.context_size = config.context_size
        self.template = ChatTemplate(chat_template, where="persona chat_template") if chat_template else None
        timeout = openai.Timeout(config.timeout_s, connect=min(config.timeout_s, 5.0))
        self.client = openai.OpenAI(base_url=self.where, api_key=os.environ.get(config.api_key_env) or "none",
                                    timeout=timeout, max_retries=0)

    @classmethod
    def from_settings(cls, settings, store) -> "OpenAICompatibleEngine":
        return cls(settings.stack.llm, settings.persona.chat_template)

    def count_tokens(self, text: str) -> int:
        return len(text.encode("utf-8")) // _BYTES_PER_TOKEN + 1

    def ready(self) -> bool:
        try:
            self.client.models.list()
        except openai.OpenAIError:
            return False
        return True

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
            raise self._error(exc) from None
        kind = raw.headers.get("content-type") or "no content type"
        if not kind.startswith("text/event-stream"):
            raw.http_response.close()
            raise LLMServerError(f"llm: the LLM server at {self.where} did not stream its answer (it sent {kind}); "
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
                raise self._error(exc) from None
        finally:
            chunks.close()

    def _error(self, exc: Exception) -> ParleyError:
        where, model = self.where, self.config.model
        if isinstance(exc, openai.APITimeoutError) or "Timeout" in type(exc).__name__:
            return EngineUnavailable(f"llm: the LLM server at {where} did not answer within "
                                     f"{self.config.timeout_s:g} s (llm.timeout_s)")
        if isinstance(exc, openai.APIConnectionError):
            return EngineUnavailable(f"llm: cannot reach the LLM server at {where} ({exc.__cause__ or exc}); "
                                     "start it, or set llm.base_url to its address")
        if not isinstance(exc, openai.OpenAIError):
            return EngineUnavailable(f"llm: the LLM server at {where} broke off its answer "
                                     f"({type(exc).__name__}: {exc})")
        if isinstance(exc, openai.APIStatusError):
            detail = _detail(exc)
            if exc.status_code in (401, 403):
                hint = f"set ${self.config.api_key_env} to the key it expects"
            elif exc.status_code == 404:
                hint = f"check llm.base_url (it usually ends in /v1) and llm.model ({model!r})"
            elif exc.status_code >= 500:
                hint = "the server failed: see its log"
            else:
                hint = f"check llm.model ({model!r}) and the llm settings"
            return LLMServerError(f"llm: the LLM server at {where} answered {exc.status_code}"
                                  f"{': ' + detail if detail else ''}; {hint}")
        return LLMServerError(f"llm: the LLM server at {where} sent something unexpected: {exc}")

    def close(self) -> None:
        self.client.close()


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        body = body.get("message") or body.get("error") or body
        if isinstance(body, dict):
            body = body.get("message", "")
    return " ".join(str(body or "").split())[:200]
