"""`llm` (decoupled): llama.cpp through Parley's in-process LlamaCppEngine, one response per text piece.

Requests are answered one at a time in arrival order, as the engine decodes one sequence at a
time; a cancelled request stops between tokens.
"""

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from parley.config import LLMConfig
from parley.core.interfaces import CancelToken, Prompt
from parley.engines.llama_cpp import LlamaCppEngine
from parley.models.store import ModelStore

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL


class RequestCancel(CancelToken):
    """Cancelled when the client cancels the Triton request (or closes its stream)."""

    def __init__(self, sender) -> None:
        super().__init__()
        self.sender = sender

    @property
    def cancelled(self) -> bool:
        return super().cancelled or self.sender.is_cancelled()


def parse_prompt(raw: bytes) -> Prompt:
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("PROMPT must be a JSON object")
    return Prompt(messages=body.get("messages"), text=body.get("text"), stop=list(body.get("stop") or []))


class TritonPythonModel:
    def initialize(self, args):
        params = {k: v["string_value"] for k, v in json.loads(args["model_config"])["parameters"].items()}
        store = ModelStore.from_parameters(params)
        config = LLMConfig(**params)
        entry = store.registry.get(config.model, "llm")
        model_file = store.require(config.model) / entry.files[0].name
        self.engine = LlamaCppEngine(model_file, config, chat_format=entry.chat_format)

    def execute(self, requests):
        for request in requests:
            sender = request.get_response_sender()
            try:
                prompt = parse_prompt(pb_utils.get_input_tensor_by_name(request, "PROMPT").as_numpy().reshape(-1)[0])
                max_tokens = int(pb_utils.get_input_tensor_by_name(request, "MAX_TOKENS").as_numpy().reshape(-1)[0])
            except (ValueError, TypeError) as exc:
                error = pb_utils.TritonError(f"bad request: {exc}", pb_utils.TritonError.INVALID_ARG)
                sender.send(pb_utils.InferenceResponse(error=error), flags=FINAL)
                continue
            if max_tokens <= 0:
                self.engine.prefill(prompt)
            else:
                for piece in self.engine.stream(prompt, max_tokens, RequestCancel(sender)):
                    out = pb_utils.Tensor("TEXT", np.array([piece.encode()], dtype=np.object_))
                    sender.send(pb_utils.InferenceResponse(output_tensors=[out]))
            sender.send(flags=FINAL)
        return None
