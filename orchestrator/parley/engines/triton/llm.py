"""The LLM through Triton's decoupled ``llm`` model: one gRPC stream per reply, a response per piece.

Tokens are counted locally with the same GGUF's tokenizer (llama.cpp loads only its vocabulary), so
history is trimmed exactly as in-process.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator

import numpy as np
from llama_cpp import Llama

from parley.config import LLMConfig
from parley.core.errors import EngineUnavailable
from parley.core.interfaces import CancelToken, Prompt
from parley.engines.triton.client import (
    TRITON_ERRORS,
    TritonEngine,
    TritonModel,
    TritonStalled,
    decode_text,
    log,
    tensor,
    text_tensor,
)

_POLL_S = 0.02


def load_tokenizer(model_file) -> Llama:
    return Llama(model_path=str(model_file), vocab_only=True, verbose=False)


class TritonLLMEngine(TritonEngine):
    def __init__(self, model: TritonModel, tokenizer: Llama, config: LLMConfig) -> None:
        super().__init__(model)
        self.tokenizer = tokenizer
        # The served model is loaded from the same stack settings, so its context is the configured one.
        self.context_size = config.context_size

    @classmethod
    def from_settings(cls, settings, store) -> "TritonLLMEngine":
        name = settings.stack.llm.model
        model_file = store.require(name) / settings.registry.get(name, "llm").files[0].name
        return cls(TritonModel(settings.stack.triton, "llm"), load_tokenizer(model_file), settings.stack.llm)


    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def prefill(self, prompt: Prompt) -> None:
        try:
            for _ in self.stream(prompt, 0, CancelToken()):
                pass
        except EngineUnavailable as exc:  # only a head start: the reply itself will report the failure
            log.warning("llm: prefill skipped: %s", exc)

    def stream(self, prompt: Prompt, max_tokens: int, cancel: CancelToken) -> Iterator[str]:
        try:
            yield from self._remote(prompt, max_tokens, cancel)
        except TRITON_ERRORS as exc:
            raise self.model.unavailable(exc) from exc

    def _remote(self, prompt: Prompt, max_tokens: int, cancel: CancelToken) -> Iterator[str]:
        body = {"stop": prompt.stop}
        body.update({"messages": prompt.messages} if prompt.messages is not None else {"text": prompt.text})
        inputs = [text_tensor("PROMPT", json.dumps(body)), tensor("MAX_TOKENS", np.array([max_tokens], np.int32))]
        responses: queue.Queue = queue.Queue()
        # A stream belongs to one client; tritonclient's client is not thread-safe for streams.
        client = self.model.new_client()
        client.start_stream(callback=lambda result, error: responses.put((result, error)))
        try:
            client.async_stream_infer(self.model.name, inputs, enable_empty_final_response=True)
            idle_since = time.monotonic()
            while not cancel.cancelled:
                try:
                    result, error = responses.get(timeout=_POLL_S)
                except queue.Empty:
                    if time.monotonic() - idle_since > self.model.config.stream_idle_timeout_s:
                        raise TritonStalled("no response from the llm stream for "
                                            f"{self.model.config.stream_idle_timeout_s:g} s") from None
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
