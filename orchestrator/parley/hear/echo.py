"""Keeping the avatar's own voice from cutting the avatar off.

The browser's echo cancellation removes most of the avatar's voice from the caller's microphone,
but not all of it (loudspeakers, a headset without cancellation, a tab whose cancellation is off),
and anything left would start a barge-in. ``EchoGuard`` remembers what was sent to the caller and
silences microphone frames that are a copy of it: frames that end a stretch of microphone audio
(``span_s``) whose normalised cross-correlation with the sent audio, at some delay up to
``max_delay_s``, is high. The caller's own voice does not correlate with the avatar's, so it gets
through even while the avatar talks; over the span, a caller talking over the echo also lowers the
correlation. Why the span and threshold are what they are: docs/live.md (echo guard).
"""

from __future__ import annotations

import numpy as np

from parley.core.audio import SAMPLE_RATE as RATE


class EchoGuard:
    def __init__(self, threshold: float = 0.55, span_s: float = 0.4, max_delay_s: float = 1.0) -> None:
        self.threshold = threshold
        self._mic = np.zeros(int(span_s * RATE), np.float32)
        self._sent = np.zeros(len(self._mic) + int(max_delay_s * RATE), np.float32)
        self._quiet = len(self._sent)  # samples since the sent audio was last non-silent
        self.frames_silenced = 0

    def sent(self, pcm: np.ndarray, rate: int) -> None:
        """Audio that went out to the caller (mono; int16 or float), in the order it was sent."""
        audio = pcm.astype(np.float32) / (32768.0 if pcm.dtype == np.int16 else 1.0)
        if rate != RATE:  # only for correlating: averaging whole groups of samples is enough
            step = rate // RATE
            audio = audio[: len(audio) // step * step].reshape(-1, step).mean(axis=1)
        _push(self._sent, audio)
        self._quiet = 0 if np.abs(audio).max(initial=0) > 1e-3 else min(self._quiet + len(audio), len(self._sent))

    def echo_score(self) -> float:
        """Highest normalised correlation of the microphone's last span with any delay of the sent audio."""
        if self._quiet >= len(self._sent):
            return 0.0  # nothing was said lately: there is nothing to echo
        near, far = self._mic, self._sent
        near_energy = float(near @ near)
        if near_energy < 1e-6:
            return 0.0
        n, size = len(near), len(far)
        fft = 1 << (size + n - 1).bit_length()
        dots = np.fft.irfft(np.fft.rfft(far, fft) * np.conj(np.fft.rfft(near, fft)), fft)[: size - n + 1]
        energy = np.concatenate([[0.0], np.cumsum(far.astype(np.float64) ** 2)])
        window = energy[n:] - energy[: size - n + 1]
        scores = dots / np.sqrt(np.maximum(window, 1e-9) * near_energy)
        return float(np.max(np.where(window > 1e-6 * n, scores, 0.0)))

    def filter(self, mic: np.ndarray) -> np.ndarray:
        """A 16 kHz microphone frame itself, or silence when it is the avatar's own voice."""
        _push(self._mic, mic.astype(np.float32))
        if self.echo_score() >= self.threshold:
            self.frames_silenced += 1
            return np.zeros_like(mic)
        return mic


def _push(ring: np.ndarray, samples: np.ndarray) -> None:
    n = min(len(samples), len(ring))
    if n == 0:
        return
    ring[:-n] = ring[n:].copy()
    ring[-n:] = samples[-n:]
