"""The interfaces between the stages of the loop, and the cancel token every stage of a turn shares.

Session code talks only to these Protocols; which engine stands behind one is a name in the stack
config (see ``parley.engines``). Engine calls are synchronous and may block: the turn runs them in
worker threads, so an engine never needs to know about asyncio.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from parley.core.mood import Mood
from parley.core.speech import SpeechSegment, SpokenChunk, VisemeTrack


class Cancelled(Exception):
    """Raised inside a stage when its turn was cancelled (barge-in, disconnect, shutdown)."""


class CancelToken:
    """Shared by every stage of one turn; cancelling it stops the LLM, TTS and everything queued."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the cancelling thread) when the token is cancelled; at once if it is."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled(self.reason)


@dataclass(frozen=True)
class Prompt:
    """What an LLM engine is asked: either chat ``messages`` or a completion ``text``, never both."""

    messages: list[dict[str, str]] | None = None
    text: str | None = None
    stop: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.text is None):
            raise ValueError("a Prompt has exactly one of messages or text")


@runtime_checkable
class LLMEngine(Protocol):
    context_size: int

    def count_tokens(self, text: str) -> int:
        """Tokens this model's tokenizer makes of ``text`` (used to trim history to the context)."""

    def stream(self, prompt: Prompt, max_tokens: int, cancel: CancelToken) -> Generator[str, None, None]:
        """Yield the reply as text pieces; stop early (without raising) once ``cancel`` is set, or when
        the generator is closed (a reply replaced mid-way is not read to its end)."""

    def prefill(self, prompt: Prompt) -> None:
        """Process ``prompt`` ahead of time so a later prompt with the same prefix starts faster."""


@runtime_checkable
class TTSEngine(Protocol):
    sample_rate: int

    def synthesize(self, text: str, cancel: CancelToken | None = None) -> SpeechSegment:
        """Speak ``text``; the segment's phoneme timings cover its audio exactly."""


@runtime_checkable
class VisemeMapper(Protocol):
    def track(self, speech: SpeechSegment) -> VisemeTrack:
        """Turn phoneme timings into a viseme track for the same audio."""


@runtime_checkable
class ASREngine(Protocol):
    sample_rate: int  # 16000 for Whisper

    def transcribe(self, audio: np.ndarray, prompt: str | None = None) -> str:
        """Transcribe mono float32 audio at ``sample_rate``; ``prompt`` biases it to expected words."""


class EndOfTurnModel(Protocol):
    def probability(self, text: str) -> float:
        """How likely the caller's words so far end what they meant to say (0 to 1): read at a pause,
        from the words alone."""


@runtime_checkable
class Face(Protocol):
    """A talking face drawn on the server: the 2D warp, Wav2Lip, MuseTalk, and any face to come."""

    fps: float
    size: int  # frames are size × size

    def frame(self, t: float, chunk: SpokenChunk | None = None, chunk_t: float = 0.0,
              mood: Mood | None = None) -> np.ndarray:
        """The face at ``t`` seconds of its life (head motion, blinks, gaze) as an RGB uint8 image, its
        mouth saying ``chunk`` at ``chunk_t`` seconds into that chunk's audio (closed when ``chunk`` is
        None), showing ``mood`` (a nod while the caller speaks, a smile for the greeting) where it can."""

    def frames(self, chunk: SpokenChunk) -> Iterator[np.ndarray]:
        """Every frame of ``chunk`` at ``fps``, from its start (a lip-sync network renders them in
        batches): what ``parley say`` and ``parley animate`` write."""


@runtime_checkable
class SpeechOutput(Protocol):
    """Where the avatar's speech goes, and what of it the caller has heard: the live media clock, a
    simulated listener on the wall clock, or text that counts as heard once delivered."""

    @property
    def speaking(self) -> bool:
        """Audio is still queued or playing."""

    def add(self, chunk: SpokenChunk) -> None:
        """Queue a chunk to play after those already queued."""

    def flush(self) -> None:
        """Barge-in: drop what has not been played."""

    def mark(self) -> int:
        """A position: ``heard(mark)`` reports what was heard of the chunks added after it."""

    def heard(self, mark: int) -> tuple[str, float]:
        """The text of the chunks after ``mark`` that began playing, and the seconds played of them."""
