"""Speech recognition through Triton's ``asr`` model (Whisper), falling back to faster-whisper in-process."""

from __future__ import annotations

import numpy as np

from parley.engines.triton.client import Failover, decode_text, tensor, text_tensor


class TritonASREngine:
    sample_rate = 16000

    def __init__(self, route: Failover) -> None:
        self.route = route

    @classmethod
    def from_settings(cls, settings, store) -> "TritonASREngine":
        return cls(Failover.build("asr", settings, store, "asr"))

    def transcribe(self, audio: np.ndarray, prompt: str | None = None) -> str:
        return self.route.call(lambda: self._remote(audio, prompt), lambda e: e.transcribe(audio, prompt))

    def _remote(self, audio: np.ndarray, prompt: str | None) -> str:
        inputs = [tensor("AUDIO", np.ascontiguousarray(audio, dtype=np.float32))]
        if prompt:
            inputs.append(text_tensor("PROMPT", prompt))
        return decode_text(self.route.remote.infer(inputs, ["TEXT"]), "TEXT")
