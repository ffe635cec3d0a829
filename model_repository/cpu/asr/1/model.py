"""`asr`: Whisper through Parley's in-process FasterWhisperEngine (CTranslate2 on the CPU)."""

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from parley.config import ASRConfig
from parley.engines.faster_whisper import FasterWhisperEngine
from parley.models.store import ModelStore


class TritonPythonModel:
    def initialize(self, args):
        params = {k: v["string_value"] for k, v in json.loads(args["model_config"])["parameters"].items()}
        store = ModelStore.from_parameters(params)
        config = ASRConfig(**params)
        self.engine = FasterWhisperEngine(store.require(config.model), config)

    def execute(self, requests):
        responses = []
        for request in requests:
            audio = pb_utils.get_input_tensor_by_name(request, "AUDIO").as_numpy()
            prompt = pb_utils.get_input_tensor_by_name(request, "PROMPT")
            text = self.engine.transcribe(audio, prompt.as_numpy()[0].decode() if prompt is not None else None)
            out = pb_utils.Tensor("TEXT", np.array([text.encode()], dtype=np.object_))
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses
