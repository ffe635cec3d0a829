"""`llm` (decoupled) on the GPU: Parley's LLM contract in front of a TensorRT-LLM engine.

Like tensorrtllm_backend's BLS model: the prompt is tokenised here (the chat template for
``messages``), the engine in the ``engine_model`` model (backend tensorrtllm, in-flight batching
across sessions) streams token ids back, and this model turns them into text pieces, applies the
stop sequences and forwards cancellation. ``MAX_TOKENS`` 0 runs the prompt once for one token and
sends nothing: with KV-cache reuse on, a later prompt sharing that prefix skips its prefill.
Triton 24.11's BLS response iterator cannot cancel, so a sequence is ended the backend's way: a
request with the same id and ``stop`` set.

``execute`` is a coroutine (Python backend, decoupled models): one instance serves every session at
once, each request a task, while the engine batches their tokens. The BLS response iterator blocks
on each next response, so it is read on a worker thread, never on the event loop.
"""

import asyncio
import json
import uuid

import numpy as np
import triton_python_backend_utils as pb_utils

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL


def parse_prompt(raw: bytes) -> dict:
    body = json.loads(raw)
    if not isinstance(body, dict) or ("messages" in body) == ("text" in body):
        raise ValueError('PROMPT must be a JSON object with either "messages" or "text"')
    return body


class Pieces:
    """Token ids in, new text out: decodes the whole reply each time, so multi-token characters come
    out whole, and holds back anything that could still become a stop sequence."""

    def __init__(self, tokenizer, stop: list[str]) -> None:
        self.tokenizer, self.stop = tokenizer, [s for s in stop if s]
        self.ids: list[int] = []
        self.sent = 0
        self.stopped = False

    def add(self, ids: list[int]) -> str:
        self.ids += ids
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # a character split across tokens: wait for the rest
            return ""
        cut = min((text.find(s) for s in self.stop if s in text), default=-1)
        if cut >= 0:
            self.stopped = True
            text = text[:cut]
        else:
            # Keep back a tail that is the start of a stop sequence.
            hold = max((k for s in self.stop for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
            text = text[: len(text) - hold]
        piece, self.sent = text[self.sent :], max(self.sent, len(text))
        return piece

    def finish(self) -> str:
        """What was held back, once the engine has ended the reply without a stop sequence."""
        if self.stopped:
            return ""
        return self.tokenizer.decode(self.ids, skip_special_tokens=True)[self.sent :].replace("\ufffd", "")


def stop_words_list(encode, stop: list[str]) -> np.ndarray:
    """The backend's stop-word tensor, [1, 2, n]: all words' ids, then each word's end offset (-1 padded).
    The engine then stops on the token level too, so a stopped reply does not run on to MAX_TOKENS."""
    ids, ends = [], []
    for word in stop:
        ids += encode(word)
        ends.append(len(ids))
    n = max(len(ids), 1)
    out = np.full((1, 2, n), -1, np.int32)
    out[0, 0, : len(ids)] = ids
    out[0, 1, : len(ends)] = ends
    return out


async def responses_of(request):
    """The engine's streamed responses to ``request``, each awaited off the event loop."""
    iterator = await request.async_exec(decoupled=True)
    loop = asyncio.get_running_loop()
    done = object()
    while (response := await loop.run_in_executor(None, next, iterator, done)) is not done:
        yield response


class TritonPythonModel:
    def initialize(self, args):
        params = {k: v["string_value"] for k, v in json.loads(args["model_config"])["parameters"].items()}
        # transformers comes with the TensorRT-LLM image; imported here so the text handling above
        # can be tested where it is not installed.
        from transformers import AutoTokenizer

        self.engine_model = params["engine_model"]
        self.tokenizer = AutoTokenizer.from_pretrained(params["tokenizer_dir"])
        self.end_id = self.tokenizer.eos_token_id
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.end_id
        self.sampling = {
            "temperature": np.array([[float(params["temperature"])]], np.float32),
            "runtime_top_p": np.array([[float(params["top_p"])]], np.float32),
            "repetition_penalty": np.array([[float(params["repeat_penalty"])]], np.float32),
        }
        if int(params.get("seed", -1)) >= 0:
            self.sampling["random_seed"] = np.array([[int(params["seed"])]], np.uint64)

    def token_ids(self, body: dict) -> list[int]:
        if "messages" in body:
            return self.tokenizer.apply_chat_template(body["messages"], add_generation_prompt=True, tokenize=True)
        return self.tokenizer.encode(body["text"])

    async def generate(self, sender, ids: list[int], max_tokens: int, stop: list[str]) -> None:
        inputs = {
            "input_ids": np.array([ids], np.int32),
            "input_lengths": np.array([[len(ids)]], np.int32),
            "request_output_len": np.array([[max(max_tokens, 1)]], np.int32),
            "end_id": np.array([[self.end_id]], np.int32),
            "pad_id": np.array([[self.pad_id]], np.int32),
            "streaming": np.array([[True]], np.bool_),
            **self.sampling,
        }
        if stop:
            encode = lambda word: self.tokenizer.encode(word, add_special_tokens=False)  # noqa: E731
            inputs["stop_words_list"] = stop_words_list(encode, stop)
        request_id = uuid.uuid4().hex
        request = pb_utils.InferenceRequest(
            model_name=self.engine_model, request_id=request_id, requested_output_names=["output_ids"],
            inputs=[pb_utils.Tensor(k, v) for k, v in inputs.items()],
        )
        pieces = Pieces(self.tokenizer, stop)
        stopping = False
        async for response in responses_of(request):
            if response.has_error():
                raise pb_utils.TritonModelException(response.error().message())
            output = pb_utils.get_output_tensor_by_name(response, "output_ids")
            if max_tokens > 0 and output is not None and not stopping:
                piece = pieces.add(output.as_numpy().reshape(-1).tolist())
                if piece:
                    sender.send(pb_utils.InferenceResponse(
                        output_tensors=[pb_utils.Tensor("TEXT", np.array([piece.encode()], dtype=np.object_))]))
            if not stopping and (pieces.stopped or sender.is_cancelled()):
                stopping = True
                await self.stop_engine(request_id)  # then the engine sends this request's last response
        rest = "" if stopping or max_tokens <= 0 else pieces.finish()
        if rest:
            sender.send(pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor("TEXT", np.array([rest.encode()], dtype=np.object_))]))

    async def stop_engine(self, request_id: str) -> None:
        inputs = {
            "input_ids": np.array([[self.end_id]], np.int32),
            "input_lengths": np.array([[1]], np.int32),
            "request_output_len": np.array([[1]], np.int32),
            "stop": np.array([[True]], np.bool_),
        }
        request = pb_utils.InferenceRequest(
            model_name=self.engine_model, request_id=request_id, requested_output_names=["output_ids"],
            inputs=[pb_utils.Tensor(k, v) for k, v in inputs.items()],
        )
        async for _ in responses_of(request):
            pass

    async def execute(self, requests):
        await asyncio.gather(*(self.serve(request) for request in requests))
        return None

    async def serve(self, request) -> None:
        sender = request.get_response_sender()
        try:
            body = parse_prompt(pb_utils.get_input_tensor_by_name(request, "PROMPT").as_numpy().reshape(-1)[0])
            max_tokens = int(pb_utils.get_input_tensor_by_name(request, "MAX_TOKENS").as_numpy().reshape(-1)[0])
            ids = self.token_ids(body)
        except (ValueError, TypeError, KeyError) as exc:
            error = pb_utils.TritonError(f"bad request: {exc}", pb_utils.TritonError.INVALID_ARG)
            sender.send(pb_utils.InferenceResponse(error=error), flags=FINAL)
            return
        try:
            await self.generate(sender, ids, max_tokens, list(body.get("stop") or []))
        except pb_utils.TritonModelException as exc:
            sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc))), flags=FINAL)
            return
        sender.send(flags=FINAL)
