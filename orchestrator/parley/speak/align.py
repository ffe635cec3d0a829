"""Phoneme timings for speech that came without them: a recording, or a TTS server that returns audio only.

The words (given, or Whisper's) are said again by a reference voice whose phoneme timings are exact
(Piper or hibari). Dynamic time warping between the two recordings' log-mel spectra, each with its
mean over the utterance taken away (so that what is said matters more than whose voice, or which
microphone, says it), carries every phoneme boundary of the reference onto the recording. Whisper
alone times words, not phonemes, and only to within a few of its 20 ms steps; the warp places each
phoneme where its sound is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faster_whisper.feature_extractor import FeatureExtractor

from parley.core.audio import SAMPLE_RATE, resample
from parley.core.errors import ParleyError
from parley.core.interfaces import CancelToken, TTSEngine
from parley.core.speech import PhonemeTiming, SpeechSegment

FRAMES_PER_S = 100  # Whisper's log-mel hop: 10 ms
# One warp holds both recordings' frame-by-frame costs: 30 s against 30 s is ~0.1 GB of float32.
MAX_WARP_S = 30.0


class AlignmentError(ParleyError, ValueError):
    pass


@dataclass(frozen=True)
class Words:
    """What is said between ``start`` and ``end`` seconds of a recording."""

    start: float
    end: float
    text: str


_MEL = FeatureExtractor(feature_size=80)


def spectra(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """One row of 80 log-mel bands per 10 ms of ``audio``, each band's mean over the whole taken away.
    (Tried on two voices, in perf/bench_voices.py's set: this matched words across voices better than
    cepstra, with or without their deltas.)"""
    mel = _MEL(resample(audio, sample_rate, SAMPLE_RATE))[:, : max(1, len(audio) * FRAMES_PER_S // sample_rate)].T
    return mel - mel.mean(0)


def warping_path(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The cheapest monotonic pairing of the rows of ``a`` with those of ``b``: (i, j) pairs from
    (0, 0) to the last of each, each step moving one or both on."""
    cost = np.sqrt(np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, 0.0))
    n, m = cost.shape
    total = np.empty((n, m), np.float32)
    total[0] = np.cumsum(cost[0])
    for i in range(1, n):
        # Diagonal or vertical from the row above, then any run of horizontal steps within this row:
        # total[i, j] = min over k <= j of (from_above[k] + cost[i, k+1..j]), a running minimum.
        from_above = cost[i] + np.minimum(np.concatenate(([np.inf], total[i - 1, :-1])), total[i - 1])
        run = np.cumsum(cost[i])
        total[i] = run + np.minimum.accumulate(from_above - run)
    i, j, path = n - 1, m - 1, [(n - 1, m - 1)]
    while i or j:
        if i and j:
            step = int(np.argmin((total[i - 1, j - 1], total[i - 1, j], total[i, j - 1])))
            i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
        elif i:
            i -= 1
        else:
            j -= 1
        path.append((i, j))
    return np.array(path[::-1])


def _time_map(path: np.ndarray, n_reference: int) -> np.ndarray:
    """For each reference frame, the recording frame it falls on (the mean where it spans several)."""
    summed = np.zeros(n_reference)
    count = np.zeros(n_reference)
    np.add.at(summed, path[:, 0], path[:, 1])
    np.add.at(count, path[:, 0], 1)
    return summed / count


class Aligner:
    """Times the phonemes of recorded speech by warping a reference voice saying the same words onto it."""

    def __init__(self, reference: TTSEngine) -> None:
        self.reference = reference

    @classmethod
    def of(cls, settings, store) -> "Aligner":
        """The aligner of a stack: its reference voice is ``tts.align_voice``, in-process and noise-free
        (so its timings are the voice's typical ones)."""
        from parley.engines import engine_class

        name = settings.stack.tts.align_voice
        engine = settings.registry.get(name, "tts").engine
        config = settings.stack.tts.model_copy(update={
            "engine": engine, "voice": name, "length_scale": None, "noise_scale": 0.0, "noise_w_scale": 0.0, "seed": 0,
        })
        return cls(engine_class("tts", engine)(store.require(name), config))

    def align(self, audio: np.ndarray, sample_rate: int, text: str, cancel: CancelToken | None = None) -> SpeechSegment:
        """``audio`` (any rate) with the phoneme timings of ``text`` said in it."""
        duration = len(audio) / sample_rate
        return self.align_words(audio, sample_rate, [Words(0.0, duration, text)], cancel)

    def align_words(self, audio: np.ndarray, sample_rate: int, spans: list[Words],
                    cancel: CancelToken | None = None) -> SpeechSegment:
        """``audio`` with its phoneme timings, given what is said where (Whisper's segments, say);
        between the spans the mouth rests."""
        audio = audio.astype(np.float32, copy=False)
        duration = len(audio) / sample_rate
        phonemes: list[PhonemeTiming] = []
        for span in spans:
            if cancel is not None:
                cancel.raise_if_cancelled()
            start, end = max(0.0, span.start), min(duration, span.end)
            if end - start > MAX_WARP_S:
                raise AlignmentError(f"cannot align {end - start:.0f} s of speech at once (at most "
                                     f"{MAX_WARP_S:.0f} s); give shorter pieces, or let Whisper find the sentences")
            if not span.text.strip() or end - start < 1.0 / FRAMES_PER_S:
                continue
            piece = audio[int(start * sample_rate): int(end * sample_rate)]
            phonemes += [PhonemeTiming(p.phoneme, start + p.start, start + p.end)
                         for p in self._align_piece(piece, sample_rate, span.text)]
        text = " ".join(s.text.strip() for s in spans if s.text.strip())
        return SpeechSegment(text=text, audio=audio, sample_rate=sample_rate, phonemes=phonemes)

    def _align_piece(self, audio: np.ndarray, sample_rate: int, text: str) -> list[PhonemeTiming]:
        reference = self.reference.synthesize(text)
        if not reference.phonemes:
            return []
        ref = spectra(reference.audio, reference.sample_rate)
        rec = spectra(audio, sample_rate)
        frame_of = _time_map(warping_path(ref, rec), len(ref))
        piece_s = len(audio) / sample_rate

        def warp(t: float) -> float:
            return min(piece_s, float(np.interp(t * FRAMES_PER_S, np.arange(len(ref)), frame_of)) / FRAMES_PER_S)

        out = []
        for p in reference.phonemes:
            start = out[-1].end if out else warp(p.start)
            out.append(PhonemeTiming(p.phoneme, start, max(start, warp(p.end))))
        return out
