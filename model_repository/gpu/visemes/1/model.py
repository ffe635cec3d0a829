"""`visemes`: phoneme timings → the VisemeTrack JSON that Parley's CoarticulatedVisemes makes in-process."""

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from parley.config import VisemeConfig
from parley.core.speech import PhonemeTiming, VisemeTrack
from parley.speak.visemes import CoarticulatedVisemes, blend_curves, phoneme_spans


def vector(request, name: str) -> np.ndarray:
    return pb_utils.get_input_tensor_by_name(request, name).as_numpy().reshape(-1)


class TritonPythonModel:
    def initialize(self, args):
        params = {k: v["string_value"] for k, v in json.loads(args["model_config"])["parameters"].items()}
        self.mapper = CoarticulatedVisemes.from_config(VisemeConfig(**params))

    def track(self, phonemes: list[PhonemeTiming], duration: float) -> VisemeTrack:
        # CoarticulatedVisemes.track takes a SpeechSegment for its duration; here only the duration came.
        m = self.mapper
        spans = phoneme_spans(phonemes)
        return VisemeTrack(fps=m.fps, duration=duration, spans=spans,
                           curves=blend_curves(spans, duration, m.fps, m.ramp, m.lead))

    def execute(self, requests):
        responses = []
        for request in requests:
            names = ("PHONEMES", "PHONEME_STARTS", "PHONEME_ENDS")
            try:
                phonemes = [PhonemeTiming(p.decode(), float(s), float(e))
                            for p, s, e in zip(*(vector(request, n) for n in names), strict=True)]
                track = self.track(phonemes, float(vector(request, "DURATION")[0]))
            except ValueError as exc:  # UnknownPhoneme, or timings that do not pair up with the phonemes
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc))))
                continue
            out = pb_utils.Tensor("VISEME_TRACK", np.array([json.dumps(track.to_dict()).encode()], dtype=np.object_))
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses
