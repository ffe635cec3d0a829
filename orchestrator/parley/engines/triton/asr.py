"""Speech recognition through Triton's ``asr`` model (Whisper)."""

from __future__ import annotations

import numpy as np

from parley.core.audio import SAMPLE_RATE
from parley.engines.triton.client import TritonEngine, TritonModel, decode_text, tensor, text_tensor


class TritonASREngine(TritonEngine):
    sample_rate = SAMPLE_RATE

    def __init__(self, model: TritonModel) -> None:
        super().__init__(model)

    @classmethod
    def from_settings(cls, settings, store) -> "TritonASREngine":
        return cls(TritonModel(settings.stack.triton, "asr"))


    def transcribe(self, audio: np.ndarray, prompt: str | None = None) -> str:
        inputs = [tensor("AUDIO", np.ascontiguousarray(audio, dtype=np.float32))]
        if prompt:
            inputs.append(text_tensor("PROMPT", prompt))
        return decode_text(self.model.infer(inputs, ["TEXT"]), "TEXT")
