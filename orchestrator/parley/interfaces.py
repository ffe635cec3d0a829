"""The interfaces every engine implements, in-process or remote (Triton).

Session code talks only to these Protocols; which engine stands behind one is a name in the stack
config (see ``parley.engines``). Calls are synchronous and may block: the turn runs them in worker
threads, so an engine never needs to know about asyncio.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from parley.events import SpeechSegment, VisemeTrack


class Cancelled(Exception):
    """Raised inside a stage when its turn was cancelled (barge-in, disconnect, shutdown)."""


class CancelToken:
    """Shared by every stage of one turn; cancelling it stops the LLM, TTS and everything queued."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

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

    def stream(self, prompt: Prompt, max_tokens: int, cancel: CancelToken) -> Iterator[str]:
        """Yield the reply as text pieces; stop early (without raising) once ``cancel`` is set."""

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


@runtime_checkable
class FaceRenderer(Protocol):
    fps: float

    def frame(self, t: float, visemes: VisemeTrack) -> np.ndarray:
        """The avatar's face at time ``t`` of the viseme track, as an RGB uint8 image."""
