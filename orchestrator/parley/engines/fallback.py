"""Fallback as an adapter: any two engines of one stage, the primary while it answers, the backup
after it fails (``EngineUnavailable``), and the primary again once it reports ready.

The adapters implement the stage's own Protocol, so the session never knows which engine answered.
A primary may offer ``ready() -> bool``; a background probe asks it while the backup serves.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import numpy as np

from parley.core.errors import EngineUnavailable
from parley.core.interfaces import ASREngine, CancelToken, LLMEngine, Prompt, TTSEngine
from parley.core.speech import SpeechSegment

log = logging.getLogger("parley.fallback")
E = TypeVar("E")
T = TypeVar("T")


class Switch(Generic[E]):
    """Which engine serves a stage now; shared by every session using that stage."""

    def __init__(self, stage: str, primary: E, backup: E, backup_name: str, probe_interval_s: float) -> None:
        self.stage = stage
        self.primary = primary
        self.backup = backup
        self.backup_name = backup_name
        self.probe_interval_s = probe_interval_s
        self._lock = threading.Lock()
        self._probe: threading.Thread | None = None
        self._closed = threading.Event()
        self.on_primary = True
        self.failovers = 0  # times the backup took over
        self.reason = ""  # why the backup serves (the last failure), while it does
        if not self._primary_ready():
            self.failed(f"{stage}: {self.primary_label} not ready at {getattr(primary, 'where', 'its address')}")

    def _primary_ready(self) -> bool:
        ready = getattr(self.primary, "ready", None)
        return ready() if ready is not None else True

    @property
    def primary_label(self) -> str:
        return getattr(self.primary, "label", type(self.primary).__name__)

    def call(self, fn: Callable[[E], T]) -> T:
        """``fn`` on the engine serving now; on the backup if the primary fails on the way."""
        if self.on_primary:
            try:
                return fn(self.primary)
            except EngineUnavailable as exc:
                self.failed(str(exc))
        return fn(self.backup)

    def failed(self, reason: str) -> None:
        """The primary failed (``reason`` says how, naming the stage): the backup serves from now on."""
        with self._lock:
            self.reason = reason
            if self.on_primary:
                self.failovers += 1
                log.warning("%s; using the in-process %s engine until it is ready again", reason, self.backup_name)
            self.on_primary = False
            if self._probe is None and not self._closed.is_set():
                self._probe = threading.Thread(target=self._probe_until_ready, name=f"probe-{self.stage}",
                                               daemon=True)
                self._probe.start()

    def _probe_until_ready(self) -> None:
        while not self._closed.wait(self.probe_interval_s):
            if self._primary_ready():
                with self._lock:
                    self.on_primary = True
                    self._probe = None  # a later failure starts a new probe
                log.warning("%s: %s at %s is ready again; back on %s", self.stage, self.primary_label,
                            getattr(self.primary, "where", "its address"), self.primary_label)
                return

    def close(self) -> None:
        self._closed.set()


class FallbackLLM:
    """An LLM stage on two engines. A reply cut off mid-stream is continued by the backup from what
    was already said (the backup must offer ``continue_from(prompt, said) -> Prompt``)."""

    def __init__(self, switch: Switch[LLMEngine]) -> None:
        self.switch = switch
        self.context_size = switch.backup.context_size

    def count_tokens(self, text: str) -> int:
        return self.switch.call(lambda e: e.count_tokens(text))

    def prefill(self, prompt: Prompt) -> None:
        self.switch.call(lambda e: e.prefill(prompt))

    def stream(self, prompt: Prompt, max_tokens: int, cancel: CancelToken) -> Iterator[str]:
        said: list[str] = []
        if self.switch.on_primary:
            try:
                for piece in self.switch.primary.stream(prompt, max_tokens, cancel):
                    said.append(piece)
                    yield piece
                return
            except EngineUnavailable as exc:
                self.switch.failed(str(exc))
        if cancel.cancelled:
            return
        backup = self.switch.backup
        if not said:
            yield from backup.stream(prompt, max_tokens, cancel)
            return
        text = "".join(said)
        left = max_tokens - backup.count_tokens(text)
        if left > 0:
            yield from backup.stream(backup.continue_from(prompt, text), left, cancel)

    def close(self) -> None:
        self.switch.close()


class FallbackTTS:
    def __init__(self, switch: Switch[TTSEngine]) -> None:
        self.switch = switch
        self.sample_rate = switch.backup.sample_rate  # the backup speaks the same voice

    def synthesize(self, text: str, cancel: CancelToken | None = None) -> SpeechSegment:
        return self.switch.call(lambda e: e.synthesize(text, cancel))

    def close(self) -> None:
        self.switch.close()


class FallbackASR:
    def __init__(self, switch: Switch[ASREngine]) -> None:
        self.switch = switch
        self.sample_rate = switch.backup.sample_rate

    def transcribe(self, audio: np.ndarray, prompt: str | None = None) -> str:
        return self.switch.call(lambda e: e.transcribe(audio, prompt))

    def close(self) -> None:
        self.switch.close()


ADAPTERS = {"llm": FallbackLLM, "tts": FallbackTTS, "asr": FallbackASR}


def with_fallback(stage: str, primary, backup, backup_name: str, probe_interval_s: float):
    """``primary`` for ``stage``, falling back to ``backup`` while it is unavailable."""
    return ADAPTERS[stage](Switch(stage, primary, backup, backup_name, probe_interval_s))
