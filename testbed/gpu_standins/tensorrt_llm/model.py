"""The LLM's TensorRT-LLM engine, decoupled as it is: the prompt's ids (in the llm model's tokenizer) are
run by llama-cpp on a GGUF, each streamed piece is sent back as that tokenizer's ids, and a request with
the same request_id and ``stop`` set ends the generation and gets its own final response."""

import threading
from pathlib import Path

import numpy as np

import triton_python_backend_utils as pb_utils
from testbed.gpu_standins import config_of, inputs, response

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL


class TritonPythonModel:
    def initialize(self, args):
        import tokenizers
        from llama_cpp import Llama

        self.config = config_of(args)
        params = {k: v["string_value"] for k, v in self.config["parameters"].items()}
        self.tokenizer = tokenizers.Tokenizer.from_file(str(Path(params["standin_tokenizer_dir"]) / "tokenizer.json"))
        self.llama = Llama(params["standin_gguf"], n_ctx=2048, n_threads=1, verbose=False)
        self.lock = threading.Lock()  # one llama context
        self.stops: dict[str, threading.Event] = {}

    def execute(self, requests):
        for request in requests:
            tensors = inputs(request, self.config)
            sender = request.get_response_sender()
            if "stop" in tensors and bool(tensors["stop"].reshape(-1)[0]):
                running = self.stops.get(request.request_id())
                if running is not None:
                    running.set()
                sender.send(flags=FINAL)
                continue
            stop = self.stops.setdefault(request.request_id(), threading.Event())
            threading.Thread(target=self.generate, args=(request.request_id(), tensors, sender, stop),
                             daemon=True).start()
        return None

    def generate(self, request_id: str, tensors: dict, sender, stop: threading.Event) -> None:
        try:
            ids = tensors["input_ids"].reshape(-1)[: int(tensors["input_lengths"].reshape(-1)[0])].tolist()
            prompt = self.llama.tokenize(self.tokenizer.decode(ids, skip_special_tokens=False).encode(),
                                         add_bos=True, special=True)
            sampling = {"temperature": float(tensors.get("temperature", np.array([0.0])).reshape(-1)[0]),
                        "top_p": float(tensors.get("runtime_top_p", np.array([1.0])).reshape(-1)[0]),
                        "repeat_penalty": float(tensors.get("repetition_penalty", np.array([1.0])).reshape(-1)[0])}
            with self.lock:
                for chunk in self.llama.create_completion(prompt, max_tokens=int(tensors["request_output_len"].reshape(-1)[0]),
                                                          stream=True, **sampling):
                    if stop.is_set():
                        break
                    new = self.tokenizer.encode(chunk["choices"][0]["text"], add_special_tokens=False).ids
                    if new:
                        sender.send(response(self.config, {"output_ids": np.array([[new]], np.int32),
                                                           "sequence_length": np.array([[len(new)]], np.int32)}))
            sender.send(flags=FINAL)
        except Exception as exc:  # the llm model reports it as the engine's error, as it would TensorRT-LLM's
            sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc))), flags=FINAL)
        finally:
            self.stops.pop(request_id, None)
