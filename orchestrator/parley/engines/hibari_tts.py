"""hibari in-process: a small voice distilled from Kokoro-82M, with the duration its graph gives each phoneme.

hibari reads misaki's phoneme alphabet (Kokoro's): IPA plus single letters for diphthongs and
affricates. The timings it returns are re-spelt in the espeak IPA the viseme mapper reads, a
diphthong's time shared between its two vowels so the mouth glides as the sound does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime
from hibari import Hibari, dsp

from parley.config import TTSConfig
from parley.core.interfaces import CancelToken
from parley.core.speech import PhonemeTiming, SpeechSegment
from parley.engines.piper_tts import AlignmentMissing
from parley.models.store import HIBARI_DURATIONS

# The graph's duration unit: one 12.5 ms spectral frame pair, 600 samples at 24 kHz.
SAMPLES_PER_UNIT = 600
PAD = "_"

MISAKI_TO_IPA = {
    "A": "eɪ", "I": "aɪ", "O": "oʊ", "W": "aʊ", "Y": "ɔɪ", "Q": "əʊ",
    "ʤ": "dʒ", "ʧ": "tʃ", "ʣ": "dz", "ʦ": "ts", "ʥ": "dʑ", "ʨ": "tɕ",
    "T": "ɾ", "ᵊ": "ə", "ᵝ": "ʊ", "ꭧ": "ɚ",
}
# Where a two-symbol spelling switches from the first sound to the second.
_FIRST_SHARE = 0.6


class _TextFrontEnd(Hibari):
    """hibari's own sentence splitting and phonemizer, without the ONNX session ``Hibari()`` loads:
    the engine runs the prepared voice, which also outputs durations."""

    def __init__(self, vocab: dict[str, int]) -> None:
        self.voice, self.vocab, self._g2p = "heart", vocab, None


def ipa_timings(symbols: list[str], durations: np.ndarray, sample_rate: int, offset: int) -> list[PhonemeTiming]:
    """Phoneme timings from one sentence's symbols and frame counts, starting at sample ``offset``."""
    out = []
    for symbol, units in zip(symbols, durations):
        start = offset
        offset += int(units) * SAMPLES_PER_UNIT
        ipa = MISAKI_TO_IPA.get(symbol, symbol)
        if len(ipa) == 1:
            out.append(PhonemeTiming(ipa, start / sample_rate, offset / sample_rate))
            continue
        middle = start + round((offset - start) * _FIRST_SHARE)
        out.append(PhonemeTiming(ipa[0], start / sample_rate, middle / sample_rate))
        out.append(PhonemeTiming(ipa[1], middle / sample_rate, offset / sample_rate))
    return out


class HibariEngine:
    def __init__(self, model_dir: Path, config: TTSConfig) -> None:
        onnx_file = model_dir / "hibari.onnx"
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = config.threads or 1
        options.enable_cpu_mem_arena = False  # new shapes per sentence: see PiperEngine
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        if HIBARI_DURATIONS not in {o.name for o in self.session.get_outputs()}:
            raise AlignmentMissing(
                f"{onnx_file} has no phoneme-duration output; fetch the voice with `parley models fetch`, "
                "which exports it"
            )
        self.vocab: dict[str, int] = json.loads((model_dir / "vocab.json").read_text(encoding="utf-8"))
        self.front = _TextFrontEnd(self.vocab)
        self.front.phonemize("Ready.")  # loads the lexicons and tagger now, not in the first reply
        self.sample_rate = dsp.SR
        self.speed = 1.0 / config.length_scale if config.length_scale else 1.0
        self.seed = config.seed

    @classmethod
    def from_settings(cls, settings, store) -> "HibariEngine":
        return cls(store.require(settings.stack.tts.voice), settings.stack.tts)

    def synthesize(self, text: str, cancel: CancelToken | None = None) -> SpeechSegment:
        rng = np.random.default_rng(self.seed)
        audio_parts: list[np.ndarray] = []
        phonemes: list[PhonemeTiming] = []
        offset = 0
        for spelled in self.front.phonemize(text):
            if cancel is not None:
                cancel.raise_if_cancelled()
            symbols = [PAD, *(c for c in spelled if c in self.vocab), PAD]
            if len(symbols) < 3:
                continue
            ids = np.asarray([[self.vocab.get(s, 0) for s in symbols]], dtype=np.int64)
            *spectra, durations = self.session.run(None, {"ids": ids, "speed": np.asarray([self.speed], np.float32)})
            lh, theta, ln, lr, phi, f0 = (o[0] for o in spectra)
            audio = dsp.synth(lh, theta, ln, lr, phi, f0, rng).astype(np.float32)
            phonemes += ipa_timings(symbols, durations.reshape(-1), self.sample_rate, offset)
            audio_parts.append(audio)
            offset += len(audio)
        audio = np.concatenate(audio_parts) if audio_parts else np.zeros(0, dtype=np.float32)
        return SpeechSegment(text=text, audio=audio, sample_rate=self.sample_rate, phonemes=phonemes)
