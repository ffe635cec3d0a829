"""`vad`: one Silero VAD v6 step on Parley's onnxruntime session; the caller carries the LSTM state."""

import json

import triton_python_backend_utils as pb_utils

from parley.hear.vad import SileroVAD
from parley.models.store import ModelStore


class TritonPythonModel:
    def initialize(self, args):
        params = {k: v["string_value"] for k, v in json.loads(args["model_config"])["parameters"].items()}
        store = ModelStore.from_parameters(params)
        name = params["model"]
        model_file = store.require(name) / store.registry.get(name, "vad").files[0].name
        self.session = SileroVAD(model_file).session

    def execute(self, requests):
        responses = []
        for request in requests:
            feed = {name: pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in ("input", "h", "c")}
            probs, h, c = self.session.run(None, feed)
            tensors = [pb_utils.Tensor("speech_probs", probs.reshape(1)), pb_utils.Tensor("hn", h),
                       pb_utils.Tensor("cn", c)]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
