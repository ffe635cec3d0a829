"""Whisper's TensorRT-LLM engine: CTranslate2's Whisper (the model the asr model names) decodes the
prompt it is sent from the encoder features it is sent, without the prompt in the output as the
engine's exclude_input_in_output has it."""

import numpy as np

from parley.models.store import parley_home
from testbed.gpu_standins import config_of, inputs, response


class TritonPythonModel:
    def initialize(self, args):
        import ctranslate2

        self.config = config_of(args)
        model = self.config["parameters"]["standin_model"]["string_value"]
        self.whisper = ctranslate2.models.Whisper(str(parley_home() / "models" / model), device="cpu")

    def execute(self, requests):
        import ctranslate2

        responses = []
        for request in requests:
            tensors = inputs(request, self.config)
            features = tensors["encoder_input_features"].astype(np.float32).transpose(0, 2, 1)  # [B, mels, frames]
            prompts = tensors["decoder_input_ids"].tolist()
            results = self.whisper.generate(ctranslate2.StorageView.from_array(np.ascontiguousarray(features)),
                                            prompts, max_length=int(tensors["request_output_len"].max()),
                                            beam_size=1, include_prompt_in_result=False)
            ids = [r.sequences_ids[0] for r in results]
            width = max(1, max(len(i) for i in ids))
            end = int(tensors["end_id"].reshape(-1)[0]) if "end_id" in tensors else 0
            output = np.full((len(ids), 1, width), end, np.int32)
            for row, seq in enumerate(ids):
                output[row, 0, : len(seq)] = seq
            lengths = np.array([[len(s)] for s in ids], np.int32)
            responses.append(response(self.config, {"output_ids": output, "sequence_length": lengths}))
        return responses
