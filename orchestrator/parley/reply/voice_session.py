"""A spoken conversation: the listener's utterances start turns, the caller's voice cuts them off.

    frames ─► Listener ─► Utterance ─► Conversation.reply ─► SpokenChunk … TurnDone
                  │
                  └─► SpeechStarted while the avatar talks ─► cancel the turn (barge-in)

The avatar "talks" from the moment a turn starts until its audio has played out, as told by a
``PlayoutClock``: the live media clock when a caller listens (``parley.live.media.Playout``), or a
model on the wall clock otherwise. When the caller cuts in, the history keeps only what they heard;
if they heard less than ``continuation_ms``, what they had said is carried over and joined to what
they say next, so a caller who paused mid-sentence gets one answer to the whole sentence.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from parley.config import TurnTakingConfig
from parley.events import BargeIn, SpeechStarted, SpokenChunk, TurnDone, TurnFailed, Utterance, UtteranceIgnored
from parley.hear.listener import Listener
from parley.interfaces import CancelToken
from parley.reply.conversation import Conversation


class PlayoutClock(Protocol):
    """Where the avatar's audio is: queued, playing, or heard by the caller."""

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


class WallClockPlayout:
    """A ``PlayoutClock`` for when nothing plays the audio (files, tests): each chunk is taken to
    play on the wall clock from when it is ready, after the previous one."""

    def __init__(self) -> None:
        self._chunks: list[tuple[float, float, str]] = []  # (start, duration, text)
        self._end = 0.0

    @property
    def speaking(self) -> bool:
        return time.perf_counter() < self._end

    def add(self, chunk: SpokenChunk) -> None:
        start = max(time.perf_counter(), self._end)
        self._end = start + chunk.speech.duration
        self._chunks.append((start, chunk.speech.duration, chunk.speech.text))

    def flush(self) -> None:
        now = time.perf_counter()
        self._chunks = [c for c in self._chunks if c[0] <= now]
        self._end = now

    def mark(self) -> int:
        return len(self._chunks)

    def heard(self, mark: int) -> tuple[str, float]:
        now = time.perf_counter()
        started = [(start, duration, text) for start, duration, text in self._chunks[mark:] if start <= now]
        seconds = sum(min(duration, now - start) for start, duration, _ in started)
        return " ".join(text for _, _, text in started), seconds


@dataclass
class _ActiveTurn:
    user_text: str
    utterance: Utterance | None  # None for typed text
    token: CancelToken
    mark: int  # the playout position when the turn began
    task: asyncio.Task | None = None


def voice_timings(utterance: Utterance, done: TurnDone) -> dict[str, float]:
    """Stage shares of end of speech → first audio; they add up to the total."""
    t = done.timings
    vad_end_ms = (utterance.endpoint_at - utterance.end) * 1000
    out = {
        "speech_start_s": utterance.start,
        "speech_end_s": utterance.end,
        "vad_end_ms": vad_end_ms,
        "asr_ms": utterance.asr_ms,
        "asr_decode_ms": utterance.decode_ms,
        "asr_speculative": float(utterance.speculative),
    }
    if t.first_audio_ms is not None and t.first_chunk_ms is not None:
        out["llm_first_chunk_ms"] = t.first_chunk_ms
        out["tts_first_audio_ms"] = t.first_audio_ms - t.first_chunk_ms
        out["end_of_speech_to_first_audio_ms"] = vad_end_ms + utterance.asr_ms + t.first_audio_ms
    return {k: round(v, 3) for k, v in out.items()}


class VoiceSession:
    def __init__(self, conversation: Conversation, listener: Listener,
                 turn_taking: TurnTakingConfig | None = None, playout: PlayoutClock | None = None) -> None:
        self.conversation = conversation
        self.listener = listener
        self.turn_taking = turn_taking or TurnTakingConfig()
        self.playout = playout or WallClockPlayout()
        self._turn: _ActiveTurn | None = None
        self._out: asyncio.Queue | None = None
        self._carry = ""

    def avatar_speaking(self) -> bool:
        turn = self._turn
        running = turn is not None and turn.task is not None and not turn.task.done()
        return running or self.playout.speaking

    async def run(self, frames: AsyncIterable[np.ndarray]) -> AsyncIterator:
        self._out = out = asyncio.Queue()
        done = object()

        async def listen() -> None:
            try:
                async for event in self.listener.listen(frames):
                    await out.put(event)
                    if isinstance(event, SpeechStarted) and self.turn_taking.barge_in and self.avatar_speaking():
                        await out.put(await self._cut_in(event))
                    elif isinstance(event, Utterance):
                        await self._answer(event)
                if self._turn is not None and self._turn.task is not None:
                    await asyncio.gather(self._turn.task, return_exceptions=True)
            finally:
                out.put_nowait(done)

        listener_task = asyncio.ensure_future(listen())
        try:
            while (event := await out.get()) is not done:
                yield event
            await listener_task
        finally:
            listener_task.cancel()
            pending = [listener_task] + ([self._turn.task] if self._turn and self._turn.task else [])
            if self._turn is not None:
                self._turn.token.cancel("session closed")
            await asyncio.gather(*pending, return_exceptions=True)

    async def typed(self, text: str) -> None:
        """Typed text from the caller (while ``run`` is going): answered like an utterance."""
        if text.strip():
            if self.avatar_speaking():
                await self._out.put(await self._cut_in(SpeechStarted(0.0, 0.0)))
            self._start_turn(text.strip(), None)

    async def _speak(self, turn: _ActiveTurn) -> None:
        try:
            async for event in self.conversation.reply(turn.user_text, turn.token):
                if isinstance(event, SpokenChunk):
                    self.playout.add(event)
                elif isinstance(event, TurnDone) and turn.utterance is not None:
                    event.timings.extra.update(voice_timings(turn.utterance, event))
                await self._out.put(event)
        except Exception as exc:  # an engine failed: report it, keep the session listening
            await self._out.put(TurnFailed(turn.user_text, f"{type(exc).__name__}: {exc}"))

    def _start_turn(self, text: str, utterance: Utterance | None) -> None:
        turn = _ActiveTurn(text, utterance, CancelToken(), self.playout.mark())
        turn.task = asyncio.ensure_future(self._speak(turn))
        self._turn = turn

    async def _answer(self, utterance: Utterance) -> None:
        if not utterance.text.strip():
            await self._out.put(UtteranceIgnored(utterance, "no words were recognised"))
            return
        if self.avatar_speaking():  # only without barge-in: a new question replaces the old reply
            await self._cut_in(SpeechStarted(utterance.start, utterance.endpoint_at))
        text = f"{self._carry} {utterance.text}".strip()
        self._carry = ""
        self._start_turn(text, utterance)

    async def _cut_in(self, started: SpeechStarted) -> BargeIn:
        detected = time.perf_counter()
        turn = self._turn
        heard, seconds = self.playout.heard(turn.mark)  # what had reached the caller when they spoke
        turn.token.cancel("barge-in")
        await asyncio.gather(turn.task, return_exceptions=True)
        self.playout.flush()  # after the turn stopped, so nothing it queued meanwhile plays
        cancel_ms = (time.perf_counter() - detected) * 1000
        history = self.conversation.history
        if history.exchanges and history.exchanges[-1].user == turn.user_text:
            if seconds * 1000 >= self.turn_taking.continuation_ms:
                history.revise_last(heard)
            else:
                history.pop_last()
                self._carry = turn.user_text
                heard = ""
        return BargeIn(at=started.at, cancel_ms=cancel_ms, heard=heard)
