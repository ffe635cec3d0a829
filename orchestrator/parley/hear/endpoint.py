"""Endpointing: VAD probabilities → speech started / paused / resumed / ended.

Hysteresis keeps a word's quiet tail from ending speech (``threshold`` to start, ``neg_threshold``
to stop), ``min_speech_ms`` ignores clicks, and the silence before the endpoint trades reply latency
against cutting the caller off mid-sentence. That wait is ``hangover_ms``, unless the listener has
judged the words heard at this pause (``verdict``): then it is the shorter ``finished_wait_ms`` for a
sentence that sounds finished, and the longer ``unfinished_wait_ms`` for one that trails off or whose
words are still being decoded (bounded either way).
"""

from __future__ import annotations

from typing import Literal

from parley.config import TurnTakingConfig, VADConfig
from parley.core.events import SpeechEnded, SpeechPaused, SpeechResumed, SpeechStarted

Verdict = Literal["unknown", "pending", "finished", "unfinished"]


class Endpointer:
    def __init__(self, config: VADConfig, chunk_seconds: float, turn_taking: TurnTakingConfig | None = None) -> None:
        self.config = config
        self.chunk = chunk_seconds
        chunks = lambda ms: max(1, round(ms / 1000 / chunk_seconds))  # noqa: E731
        self._min_speech = chunks(config.min_speech_ms)
        self._hangover = chunks(config.hangover_ms)
        adaptive = turn_taking is not None and turn_taking.adaptive_endpoint
        self.adaptive = adaptive
        self._waits = {"unknown": self._hangover,
                       "finished": chunks(turn_taking.finished_wait_ms) if adaptive else self._hangover,
                       "unfinished": chunks(turn_taking.unfinished_wait_ms) if adaptive else self._hangover}
        self._waits["pending"] = self._waits["unfinished"]
        self.reset()

    def reset(self) -> None:
        self.verdict: Verdict = "unknown"  # of the words heard at the current pause
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
            self.verdict = "unknown"
            return [SpeechResumed(at=chunk_end)] if resumed else []
        self._silent_run += 1
        if self._silent_run >= self._waits[self.verdict]:
            event = SpeechEnded(start=self._start, end=self._last_voiced, at=chunk_end)
            self.reset()
            return [event]
        if self._silent_run == 1:
            return [SpeechPaused(start=self._start, end=self._last_voiced)]
        return []

    def judge(self, verdict: Verdict) -> None:
        """What the words heard at the current pause say (set by the listener as it learns them)."""
        if self.adaptive and self.paused:
            self.verdict = verdict

    def flush(self, now: float) -> list:
        """The input ended: close an utterance still in progress."""
        if not self.in_speech:
            return []
        event = SpeechEnded(start=self._start, end=self._last_voiced, at=now)
        self.reset()
        return [event]
