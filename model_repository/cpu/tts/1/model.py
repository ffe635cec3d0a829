"""`tts`: Piper through Parley's in-process PiperEngine, with the voice model's own phoneme timings.

CPU variant: the whole engine runs here. GPU variant (parameter ``voice_model``): phonemisation
(espeak) and the timings stay here on the CPU, and each sentence's acoustic-model call goes to that
Triton model (onnxruntime with TensorRT on the GPU) as a BLS request.
"""

import json
import locale

import numpy as np
import triton_python_backend_utils as pb_utils

from parley.config import TTSConfig
from parley.engines.piper_tts import PiperEngine
from parley.models.store import ModelStore


class TritonVoiceSession:
    """What PiperVoice asks of an onnxruntime session (``run``), answered by a Triton model."""

    def __init__(self, model_name: str, output_names: list[str]) -> None:
        self.model_name = model_name
        self.output_names = output_names

    def run(self, _output_names, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        request = pb_utils.InferenceRequest(
            model_name=self.model_name, requested_output_names=self.output_names,
            inputs=[pb_utils.Tensor(name, value) for name, value in feed.items()],
        )
        response = request.exec()
        if response.has_error():
            raise pb_utils.TritonModelException(response.error().message())
        return [pb_utils.get_output_tensor_by_name(response, name).as_numpy() for name in self.output_names]


class TritonPythonModel:
    def initialize(self, args):
        # The stub's embedded Python keeps the C locale whatever the environment says, so text files
        # opened without an encoding (Piper's voice JSON, which is not ASCII) would be read as ASCII.
        locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
        params = {k: v["string_value"] for k, v in json.loads(args["model_config"])["parameters"].items()}
        voice_model = params.pop("voice_model", None)
        store = ModelStore.from_parameters(params)
        config = TTSConfig(**params)
        self.engine = PiperEngine(store.require(config.voice), config)
        if voice_model:
            # The engine loaded the voice to check its alignment output; from now on Triton runs it.
            outputs = [o.name for o in self.engine.voice.session.get_outputs()]
            self.engine.voice.session = TritonVoiceSession(voice_model, outputs)

    def execute(self, requests):
        responses = []
        for request in requests:
            text = pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy().reshape(-1)[0].decode()
            speech = self.engine.synthesize(text)
            phonemes = speech.phonemes
            outputs = {
                "AUDIO": speech.audio.astype(np.float32, copy=False),
                "SAMPLE_RATE": np.array([speech.sample_rate], np.int32),
                "PHONEMES": np.array([p.phoneme.encode() for p in phonemes], dtype=np.object_),
                "PHONEME_STARTS": np.array([p.start for p in phonemes], np.float32),
                "PHONEME_ENDS": np.array([p.end for p in phonemes], np.float32),
                "DURATION": np.array([speech.duration], np.float32),
            }
            tensors = [pb_utils.Tensor(name, value) for name, value in outputs.items()]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
