"""TTS through Triton's ``tts`` model (Piper), with the phoneme timings the voice computed on the server.

Visemes stay in-process: mapping phonemes to a track is a few milliseconds of numpy, less than the
extra round trip the ``speak`` ensemble would need to return them through this Protocol.
"""

from __future__ import annotations

import numpy as np

from parley.core.interfaces import CancelToken
from parley.core.speech import PhonemeTiming, SpeechSegment
from parley.engines.triton.client import TritonEngine, TritonModel, text_tensor

_OUTPUTS = ["AUDIO", "SAMPLE_RATE", "PHONEMES", "PHONEME_STARTS", "PHONEME_ENDS"]


class TritonTTSEngine(TritonEngine):
    def __init__(self, model: TritonModel) -> None:
        super().__init__(model)
        self._sample_rate: int | None = None

    @classmethod
    def from_settings(cls, settings, store) -> "TritonTTSEngine":
        return cls(TritonModel(settings.stack.triton, "tts"))


    @property
    def sample_rate(self) -> int:
        """The served voice's rate: one short request answers it (and warms the model)."""
        if self._sample_rate is None:
            self._sample_rate = self.synthesize("Hello.").sample_rate
        return self._sample_rate

    def synthesize(self, text: str, cancel: CancelToken | None = None) -> SpeechSegment:
        result = self.model.infer([text_tensor("TEXT", text)], _OUTPUTS, cancel)
        rate = int(result.as_numpy("SAMPLE_RATE").ravel()[0])
        names = [p.decode("utf-8") if isinstance(p, bytes) else str(p) for p in result.as_numpy("PHONEMES").ravel()]
        # Timings are whole samples on the server; FP32 seconds are rounded back to them so they tile
        # the audio exactly, as the in-process engine's do.
        starts = np.rint(result.as_numpy("PHONEME_STARTS").astype(np.float64).ravel() * rate)
        ends = np.rint(result.as_numpy("PHONEME_ENDS").astype(np.float64).ravel() * rate)
        phonemes = [PhonemeTiming(n, s / rate, e / rate) for n, s, e in zip(names, starts, ends, strict=True)]
        audio = result.as_numpy("AUDIO").astype(np.float32, copy=False).ravel()
        return SpeechSegment(text=text, audio=audio, sample_rate=rate, phonemes=phonemes)
