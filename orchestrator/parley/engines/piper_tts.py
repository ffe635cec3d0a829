"""Piper TTS in-process, with the phoneme timings the voice model computes for its own audio."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime
from piper import PiperVoice, SynthesisConfig
from piper.config import PiperConfig

from parley.config import TTSConfig
from parley.core.errors import ParleyError
from parley.core.interfaces import CancelToken
from parley.core.speech import PhonemeTiming, SpeechSegment


class AlignmentMissing(ParleyError, RuntimeError):
    pass


class PiperEngine:
    def __init__(self, model_dir: Path, config: TTSConfig) -> None:
        onnx_file = next(model_dir.glob("*.onnx"))
        json_file = onnx_file.with_name(onnx_file.name + ".json")
        options = onnxruntime.SessionOptions()
        if config.threads:
            options.intra_op_num_threads = config.threads
        # Every sentence has a new length, so new tensor shapes: onnxruntime's CPU arena keeps whatever
        # the longest one needed and never gives it back. Without it, each run's buffers are freed.
        options.enable_cpu_mem_arena = False
        self.voice = PiperVoice(
            session=onnxruntime.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"]),
            config=PiperConfig.from_dict(json.loads(json_file.read_text(encoding="utf-8"))),
        )
        if len(self.voice.session.get_outputs()) < 2:
            raise AlignmentMissing(
                f"{onnx_file} has no phoneme-duration output; fetch the voice with `parley models fetch`, "
                "which exports it"
            )
        self.sample_rate = self.voice.config.sample_rate
        self.syn_config = SynthesisConfig(
            length_scale=config.length_scale,
            noise_scale=config.noise_scale,
            noise_w_scale=config.noise_w_scale,
        )

    @classmethod
    def from_settings(cls, settings, store) -> "PiperEngine":
        return cls(store.require(settings.stack.tts.voice), settings.stack.tts)

    def synthesize(self, text: str, cancel: CancelToken | None = None) -> SpeechSegment:
        audio_parts: list[np.ndarray] = []
        phonemes: list[PhonemeTiming] = []
        offset = 0
        # Piper yields one chunk per sentence it finds in the text; check for cancellation between them.
        for chunk in self.voice.synthesize(text, syn_config=self.syn_config, include_alignments=True):
            if cancel is not None:
                cancel.raise_if_cancelled()
            if chunk.phoneme_alignments is None:
                raise AlignmentMissing(f"Piper could not align the phonemes of {text!r}")
            audio_parts.append(chunk.audio_float_array)
            for a in chunk.phoneme_alignments:
                start = offset
                offset += int(a.num_samples)
                phonemes.append(PhonemeTiming(a.phoneme, start / self.sample_rate, offset / self.sample_rate))
        audio = np.concatenate(audio_parts) if audio_parts else np.zeros(0, dtype=np.float32)
        return SpeechSegment(text=text, audio=audio, sample_rate=self.sample_rate, phonemes=phonemes)
