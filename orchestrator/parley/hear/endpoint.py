"""Endpointing: VAD probabilities → speech started / paused / resumed / ended.

Hysteresis keeps a word's quiet tail from ending speech (``threshold`` to start, ``neg_threshold``
to stop), ``min_speech_ms`` ignores clicks, and the ``hangover_ms`` of silence before the endpoint
trades reply latency against cutting the caller off mid-sentence.
"""

from __future__ import annotations

from parley.config import VADConfig
from parley.events import SpeechEnded, SpeechPaused, SpeechResumed, SpeechStarted


class Endpointer:
    def __init__(self, config: VADConfig, chunk_seconds: float) -> None:
        self.config = config
        self.chunk = chunk_seconds
        self._min_speech = max(1, round(config.min_speech_ms / 1000 / chunk_seconds))
        self._hangover = max(1, round(config.hangover_ms / 1000 / chunk_seconds))
        self.reset()

    def reset(self) -> None:
        self.in_speech = False
        self._voiced_run = 0
        self._silent_run = 0
        self._start = 0.0
        self._last_voiced = 0.0

    @property
    def speech_start(self) -> float:
        """Where the speech in progress began (meaningful while ``in_speech``)."""
        return self._start

    @property
    def paused(self) -> bool:
        """In speech, but the latest chunks were quiet: the endpoint may be coming."""
        return self.in_speech and self._silent_run > 0

    def update(self, prob: float, chunk_end: float) -> list:
        """Take the probability of the chunk ending at ``chunk_end``; return the events it causes."""
        chunk_start = chunk_end - self.chunk
        if not self.in_speech:
            if prob >= self.config.threshold:
                if self._voiced_run == 0:
                    self._start = chunk_start
                self._voiced_run += 1
                if self._voiced_run >= self._min_speech:
                    self.in_speech, self._silent_run, self._last_voiced = True, 0, chunk_end
                    return [SpeechStarted(start=self._start, at=chunk_end)]
            else:
                self._voiced_run = 0
            return []
        if prob >= self.config.neg_threshold:
            resumed = self._silent_run > 0
            self._silent_run = 0
            self._last_voiced = chunk_end
            return [SpeechResumed(at=chunk_end)] if resumed else []
        self._silent_run += 1
        if self._silent_run >= self._hangover:
            event = SpeechEnded(start=self._start, end=self._last_voiced, at=chunk_end)
            self.reset()
            return [event]
        if self._silent_run == 1:
            return [SpeechPaused(start=self._start, end=self._last_voiced)]
        return []

    def flush(self, now: float) -> list:
        """The input ended: close an utterance still in progress."""
        if not self.in_speech:
            return []
        event = SpeechEnded(start=self._start, end=self._last_voiced, at=now)
        self.reset()
        return [event]
