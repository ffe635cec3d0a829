"""Whisper through faster-whisper (CTranslate2), in-process on the CPU."""

from __future__ import annotations

import numpy as np
from faster_whisper import WhisperModel

from parley.config import ASRConfig


class FasterWhisperEngine:
    sample_rate = 16000

    def __init__(self, model_dir, config: ASRConfig) -> None:
        self.config = config
        self.model = WhisperModel(
            str(model_dir), device="cpu", compute_type=config.compute_type, cpu_threads=config.threads or 0
        )
        # CTranslate2 allocates and tunes on the first decode; pay for it now, not in the first turn.
        self.transcribe(np.zeros(self.sample_rate // 2, np.float32))

    @classmethod
    def from_settings(cls, settings, store) -> "FasterWhisperEngine":
        return cls(store.require(settings.stack.asr.model), settings.stack.asr)

    def transcribe(self, audio: np.ndarray, prompt: str | None = None) -> str:
        segments, _ = self.model.transcribe(
            audio.astype(np.float32, copy=False),
            language=self.config.language,
            beam_size=self.config.beam_size,
            # One pass at temperature 0: fallback re-decodes would double the latency of a turn.
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,  # the listener's VAD already cut the utterance
            initial_prompt=prompt or None,
        )
        return " ".join(s.text.strip() for s in segments).strip()
