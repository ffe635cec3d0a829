"""A ``SpeechOutput`` for when no media clock plays the audio (files, the text chat, tests)."""

from __future__ import annotations

import time

from parley.core.speech import SpokenChunk


class WallClockOutput:
    """Each chunk is taken to play on the wall clock from when it is ready, after the previous one.

    With ``realtime=False`` a chunk counts as heard, whole, the moment it is delivered: the text
    chat, where the reader has the whole reply at once.
    """

    def __init__(self, realtime: bool = True) -> None:
        self.realtime = realtime
        self._chunks: list[tuple[float, float, str]] = []  # (start, duration, text)
        self._end = 0.0

    def _now(self) -> float:
        return time.perf_counter() if self.realtime else float("inf")

    @property
    def speaking(self) -> bool:
        return self.realtime and time.perf_counter() < self._end

    def add(self, chunk: SpokenChunk) -> None:
        start = max(time.perf_counter(), self._end)
        self._end = start + chunk.speech.duration
        self._chunks.append((start, chunk.speech.duration, chunk.speech.text))

    def flush(self) -> None:
        now = self._now()
        self._chunks = [c for c in self._chunks if c[0] <= now]
        self._end = min(self._end, time.perf_counter())

    def mark(self) -> int:
        return len(self._chunks)

    def heard(self, mark: int) -> tuple[str, float]:
        now = self._now()
        started = [(start, duration, text) for start, duration, text in self._chunks[mark:] if start <= now]
        seconds = sum(min(duration, now - start) for start, duration, _ in started)
        return " ".join(text for _, _, text in started), seconds
