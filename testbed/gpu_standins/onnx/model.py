"""An ONNX model (vad, tts_voice, musetalk; lipsync's Wav2Lip exported to ONNX in place of its TensorRT
plan) run by onnxruntime on the CPU, with the tensors its config declares."""

from pathlib import Path

import numpy as np
import onnxruntime

from testbed.gpu_standins import config_of, inputs, response


class TritonPythonModel:
    def initialize(self, args):
        self.config = config_of(args)
        folder = Path(args["model_repository"]) / args["model_version"]
        name = self.config["parameters"]["standin_file"]["string_value"]
        if name.endswith(".plan"):  # a TensorRT plan's stand-in is its network exported to ONNX
            name = "model.onnx"
        self.session = onnxruntime.InferenceSession(str(folder / name), providers=["CPUExecutionProvider"])
        self.outputs = [o["name"] for o in self.config["output"]]

    def execute(self, requests):
        responses = []
        for request in requests:
            values = self.session.run(self.outputs, inputs(request, self.config))
            responses.append(response(self.config, dict(zip(self.outputs, values))))
        return responses
