"""The LLM through Triton's decoupled ``llm`` model: one gRPC stream per reply, a response per piece.

Tokens are counted locally with the same GGUF's tokenizer (llama.cpp loads only its vocabulary), so
history is trimmed exactly as in-process. If Triton fails mid-reply, the in-process engine continues
the reply from what was already yielded instead of starting again (``continuation``).
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from parley.config import LLMConfig
from parley.engines.triton.client import (
    TRITON_ERRORS,
    Failover,
    TritonStalled,
    TritonUnavailable,
    decode_text,
    log,
    tensor,
    text_tensor,
)
from parley.interfaces import CancelToken, Prompt

_POLL_S = 0.02


def load_tokenizer(model_file) -> Llama:
    return Llama(model_path=str(model_file), vocab_only=True, verbose=False)


def continuation(prompt: Prompt, said: str, tokenizer: Llama) -> Prompt:
    """A prompt whose completion is the rest of a reply that begins with ``said``.

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


class TritonLLMEngine:
    def __init__(self, route: Failover, tokenizer: Llama, config: LLMConfig) -> None:
        self.route = route
        self.tokenizer = tokenizer
        # The served model is loaded from the same stack settings, so its context is the configured one.
        self.context_size = route.local.context_size if route.local is not None else config.context_size

    @classmethod
    def from_settings(cls, settings, store) -> "TritonLLMEngine":
        name = settings.stack.llm.model
        model_file = store.require(name) / settings.registry.get(name, "llm").files[0].name
        return cls(Failover.build("llm", settings, store, "llm"), load_tokenizer(model_file), settings.stack.llm)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def prefill(self, prompt: Prompt) -> None:
        try:
            self.route.call(lambda: self._drain(prompt), lambda e: e.prefill(prompt))
        except TritonUnavailable as exc:  # only a head start: the reply itself will report the failure
            log.warning("llm: prefill skipped: %s", exc)

    def _drain(self, prompt: Prompt) -> None:
        for _ in self._remote(prompt, 0, CancelToken()):
            pass

    def stream(self, prompt: Prompt, max_tokens: int, cancel: CancelToken) -> Iterator[str]:
        said: list[str] = []
        if self.route.on_triton:
            try:
                for piece in self._remote(prompt, max_tokens, cancel):
                    said.append(piece)
                    yield piece
                return
            except TRITON_ERRORS as exc:
                self.route.failed(exc)
        if cancel.cancelled:
            return
        if not said:
            yield from self.route.local.stream(prompt, max_tokens, cancel)
            return
        text = "".join(said)
        left = max_tokens - self.count_tokens(text)
        if left > 0:
            yield from self.route.local.stream(continuation(prompt, text, self.tokenizer), left, cancel)

    def _remote(self, prompt: Prompt, max_tokens: int, cancel: CancelToken) -> Iterator[str]:
        body = {"stop": prompt.stop}
        body.update({"messages": prompt.messages} if prompt.messages is not None else {"text": prompt.text})
        inputs = [text_tensor("PROMPT", json.dumps(body)), tensor("MAX_TOKENS", np.array([max_tokens], np.int32))]
        responses: queue.Queue = queue.Queue()
        # A stream belongs to one client; tritonclient's client is not thread-safe for streams.
        client = self.route.remote.new_client()
        client.start_stream(callback=lambda result, error: responses.put((result, error)))
        try:
            client.async_stream_infer(self.route.remote.name, inputs, enable_empty_final_response=True)
            idle_since = time.monotonic()
            while not cancel.cancelled:
                try:
                    result, error = responses.get(timeout=_POLL_S)
                except queue.Empty:
                    if time.monotonic() - idle_since > self.route.remote.config.stream_idle_timeout_s:
                        raise TritonStalled("no response from the llm stream for "
                                            f"{self.route.remote.config.stream_idle_timeout_s:g} s") from None
                    continue
                if error is not None:
                    raise error
                idle_since = time.monotonic()
                piece = decode_text(result, "TEXT")
                if piece:
                    yield piece
                if result.get_response().parameters["triton_final_response"].bool_param:
                    return
        finally:
            # Cancelling the stream is what stops generation on the server (barge-in, closed turn).
            client.stop_stream(cancel_requests=True)
            client.close()
