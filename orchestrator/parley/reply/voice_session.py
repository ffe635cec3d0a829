"""A spoken conversation: the listener's utterances start turns, the caller's voice cuts them off.

    frames ─► Listener ─► Utterance ─► Conversation.reply ─► SpokenChunk … TurnDone
                  │
                  └─► SpeechStarted while the avatar talks ─► cancel the turn (barge-in)

The avatar "talks" from the moment a turn starts until its audio has played out, as told by a
``SpeechOutput``: the live media clock when a caller listens, or the wall clock otherwise. The voice
session is the one writer of the history: each exchange is committed once, when it is settled (the
next turn starts, the caller cuts in, or the session ends), with what the caller actually heard. If
they heard less than ``continuation_ms`` before cutting in, what they had said is carried over and
joined to what they say next, so a caller who paused mid-sentence gets one answer to the whole sentence.

An early reply (``turn_taking.early_reply``) starts on the words heard at the caller's first pause
(``PauseTranscript``), before the endpoint, and holds everything it makes. When the endpoint
confirms the same words, what it holds is delivered at once and the reply goes on live; when the
caller speaks on, or the final words differ, it is cancelled and leaves nothing: no audio, no
caption, no history. ``EarlyReply`` says which.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field

import numpy as np

from parley.config import TurnTakingConfig
from parley.core.errors import ParleyError
from parley.core.events import (
    BargeIn,
    EarlyReply,
    PauseTranscript,
    SpeechResumed,
    SpeechStarted,
    TurnDone,
    TurnFailed,
    Typed,
    Utterance,
    UtteranceIgnored,
)
from parley.core.interfaces import CancelToken, SpeechOutput
from parley.core.speech import SpokenChunk
from parley.hear.listener import Listener
from parley.reply.conversation import Conversation
from parley.reply.history import Exchange
from parley.speak.output import WallClockOutput

log = logging.getLogger("parley.session")

CUT_IN_WAIT_S = 0.3  # longest a barge-in waits for the cut turn to stop before the session goes on


@dataclass
class _Turn:
    user_text: str
    utterance: Utterance | None  # None for typed text
    token: CancelToken
    mark: int  # the output position when the turn began
    task: asyncio.Task | None = None
    delivered: list[str] = field(default_factory=list)
    failed: bool = False
    settled: bool = False  # its exchange is in the history (or was dropped)
    held: list | None = None  # an early reply's events, until the endpoint confirms its words
    started: float = field(default_factory=time.perf_counter)
    head_start_ms: float = 0.0  # how long an early reply had been running when it was confirmed


def voice_timings(utterance: Utterance, done: TurnDone, head_start_ms: float = 0.0) -> dict[str, float]:
    """Stage shares of end of speech → first audio; they add up to the total. An early reply had
    ``head_start_ms`` of work done when the endpoint's transcript came: its first audio waits only
    for what was left (and plays no sooner than the transcript)."""
    t = done.timings
    vad_end_ms = (utterance.endpoint_at - utterance.end) * 1000
    out = {
        "speech_start_s": utterance.start,
        "speech_end_s": utterance.end,
        "vad_end_ms": vad_end_ms,
        "asr_ms": utterance.asr_ms,
        "asr_decode_ms": utterance.decode_ms,
        "asr_speculative": float(utterance.speculative),
        "early_reply": float(head_start_ms > 0),
        "early_reply_head_start_ms": head_start_ms,
    }
    if t.first_audio_ms is not None and t.first_chunk_ms is not None:
        out["llm_first_chunk_ms"] = max(0.0, t.first_chunk_ms - head_start_ms)
        out["tts_first_audio_ms"] = max(0.0, t.first_audio_ms - head_start_ms) - out["llm_first_chunk_ms"]
        out["end_of_speech_to_first_audio_ms"] = vad_end_ms + utterance.asr_ms + max(0.0, t.first_audio_ms
                                                                                       - head_start_ms)
    return {k: round(v, 3) for k, v in out.items()}


class VoiceSession:
    def __init__(self, conversation: Conversation, listener: Listener | None,
                 turn_taking: TurnTakingConfig | None = None, output: SpeechOutput | None = None) -> None:
        self.conversation = conversation
        self.history = conversation.history
        self.listener = listener
        self.turn_taking = turn_taking or TurnTakingConfig()
        self.output = output or WallClockOutput()
        self._turn: _Turn | None = None
        self._out: asyncio.Queue = asyncio.Queue()
        self._carry = ""
        # One turn at a time: whatever starts one (an utterance, typed text) waits here, so a burst
        # of messages cancels and replaces turns one after another, never runs them side by side.
        self._taking = asyncio.Lock()
        self._preparing: asyncio.Future | None = None  # the next reply's prefill (Conversation.prepare_next)

    def avatar_speaking(self) -> bool:
        turn = self._turn
        running = turn is not None and turn.held is None and turn.task is not None and not turn.task.done()
        return running or self.output.speaking

    def _early(self) -> _Turn | None:
        turn = self._turn
        return turn if turn is not None and turn.held is not None and not turn.settled else None

    async def run(self, frames: AsyncIterable[np.ndarray]) -> AsyncIterator:
        """Listen to ``frames`` and answer; yields every event until the frames end and the last
        turn is done. Typed text (``typed``) is answered meanwhile."""
        if self.listener is None:
            raise ValueError("this voice session has no listener; use respond() for text")
        out = self._out
        done = object()

        async def listen() -> None:
            try:
                async for event in self.listener.listen(frames):
                    await out.put(event)
                    if isinstance(event, (SpeechStarted, SpeechResumed)) and self._early() is not None:
                        async with self._taking:
                            if self._early() is not None:
                                self._drop_early("the caller went on")
                    if isinstance(event, SpeechStarted) and self.turn_taking.barge_in and self.avatar_speaking():
                        async with self._taking:
                            await out.put(await self._cut_in(event))
                    elif isinstance(event, PauseTranscript):
                        await self._reply_early(event)
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
            await asyncio.gather(listener_task, return_exceptions=True)
            await self.close()

    async def typed(self, text: str) -> None:
        """Typed text from the caller (while ``run`` is going): answered like an utterance; a reply
        still running is cut off, as if the caller had spoken over it."""
        if not text.strip():
            return
        async with self._taking:
            await self._out.put(Typed(text.strip()))
            if self.avatar_speaking():
                await self._out.put(await self._cut_in(SpeechStarted(0.0, 0.0)))
            self._start_turn(text.strip(), None)

    async def respond(self, text: str) -> AsyncIterator:
        """Answer ``text`` outside a voice loop (the text chat); yields the turn's events."""
        turn = self._start_turn(text.strip(), None)
        while not (turn.task.done() and self._out.empty()):
            getter = asyncio.ensure_future(self._out.get())
            await asyncio.wait({getter, turn.task}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield getter.result()
            else:
                getter.cancel()

    def reset(self) -> None:
        """Forget the conversation so far."""
        if self._turn is not None:
            self._turn.settled = True
        self._carry = ""
        self.history.clear()

    def _stop_preparing(self) -> None:
        """A prefill not yet started is dropped (one running finishes: the LLM cannot stop mid-batch)."""
        if self._preparing is not None:
            self._preparing.cancel()
            self._preparing = None

    async def close(self) -> None:
        """Stop the running turn, committing what was heard of it; a finished one is committed whole."""
        self._stop_preparing()
        turn = self._turn
        if turn is None or turn.task is None:
            return
        if turn.task.done():
            self._settle(turn, " ".join(turn.delivered))
        else:
            turn.token.cancel("session closed")
            await asyncio.wait({turn.task})  # (unlike gather, being cancelled here does not cancel it)
            self._settle(turn)

    def _deliver(self, turn: _Turn, event) -> None:
        if isinstance(event, SpokenChunk) and turn.token.cancelled:
            return  # made after the caller cut in: never played
        if isinstance(event, SpokenChunk):
            self.output.add(event)
            turn.delivered.append(event.speech.text)
        elif isinstance(event, TurnDone):
            if turn.utterance is not None:
                event.timings.extra.update(voice_timings(turn.utterance, event, turn.head_start_ms))
            if not turn.token.cancelled:
                said = Exchange(turn.user_text, " ".join(turn.delivered))
                self._preparing = asyncio.ensure_future(self.conversation.prepare_next(said))
        self._out.put_nowait(event)

    async def _speak(self, turn: _Turn) -> None:
        try:
            async for event in self.conversation.reply(turn.user_text, turn.token):
                if turn.held is not None:
                    turn.held.append(event)
                else:
                    self._deliver(turn, event)
        except Exception as exc:  # an engine failed: report it, say sorry, keep the session listening
            if turn.held is not None:  # an early reply fails quietly: the endpoint's turn will try again
                turn.held.append(exc)
                return
            turn.failed = True
            # A ParleyError's message already says what is wrong and how to fix it.
            error = str(exc) if isinstance(exc, ParleyError) else f"{type(exc).__name__}: {exc}"
            await self._out.put(TurnFailed(turn.user_text, error))
            await self._apologise(turn)

    async def _apologise(self, turn: _Turn) -> None:
        try:
            async for event in self.conversation.say(self.conversation.settings.persona.apology, turn.token):
                if isinstance(event, SpokenChunk):
                    self.output.add(event)
                await self._out.put(event)
        except Exception as exc:  # the voice itself failed: the TurnFailed already says what broke
            log.debug("apology not spoken: %s", exc)

    def _start_turn(self, text: str, utterance: Utterance | None, early: bool = False) -> _Turn:
        self._stop_preparing()
        if self._turn is not None:
            self._settle(self._turn)  # before the prompt is built: it reads the history
        turn = _Turn(text, utterance, CancelToken(), self.output.mark(), held=[] if early else None)
        turn.task = asyncio.ensure_future(self._speak(turn))
        self._turn = turn
        return turn

    async def _reply_early(self, heard: PauseTranscript) -> None:
        """Start the reply on what the caller said up to their pause, holding it (see the module doc)."""
        if not self.turn_taking.early_reply or not heard.text.strip() or self._carry:
            return
        async with self._taking:
            if self.avatar_speaking():
                return
            if self._early() is not None:
                self._drop_early("a later pause")
            self._start_turn(heard.text.strip(), None, early=True)

    def _drop_early(self, reason: str) -> None:
        turn = self._early()
        turn.token.cancel(f"early reply dropped: {reason}")
        turn.settled = True  # nothing of it was heard or said: no history
        self._out.put_nowait(EarlyReply("dropped", reason))

    def _use_early(self, turn: _Turn, utterance: Utterance) -> bool:
        """Deliver an early reply whose words the endpoint confirmed; False if it had failed."""
        held, turn.held = turn.held, None
        if any(isinstance(e, Exception) for e in held):
            turn.held = held
            self._drop_early("it failed")
            return False
        turn.utterance = utterance
        turn.head_start_ms = (time.perf_counter() - turn.started) * 1000
        self._out.put_nowait(EarlyReply("used"))
        for event in held:  # no await in between: the reply's own task cannot slip an event past these
            self._deliver(turn, event)
        return True

    def _settle(self, turn: _Turn, heard: str | None = None) -> None:
        """Commit ``turn``'s exchange once: what the caller heard of it, or all it delivered."""
        if turn.settled:
            return
        turn.settled = True
        if turn.held is not None:  # an early reply never confirmed: nothing of it was said
            return
        if heard is None:
            heard, _ = self.output.heard(turn.mark)
        if turn.failed:  # half a reply and an apology: nothing the next prompt should build on
            return
        interrupted = turn.token.cancelled or heard != " ".join(turn.delivered)
        if heard or not interrupted:  # a turn cut before a word leaves no trace
            self.history.add(turn.user_text, heard, interrupted=interrupted)

    async def _answer(self, utterance: Utterance) -> None:
        early = self._early()
        if early is not None and _words(early.user_text) == _words(utterance.text) and not self._carry:
            async with self._taking:
                if early is self._early() and self._use_early(early, utterance):
                    return
        elif early is not None:
            async with self._taking:
                self._drop_early("the endpoint heard other words")
        if not utterance.text.strip():
            await self._out.put(UtteranceIgnored(utterance, "no words were recognised"))
            return
        async with self._taking:
            if self.avatar_speaking():  # only without barge-in: a new question replaces the old reply
                await self._cut_in(SpeechStarted(utterance.start, utterance.endpoint_at))
            text = f"{self._carry} {utterance.text}".strip()
            self._carry = ""
            self._start_turn(text, utterance)

    async def _cut_in(self, started: SpeechStarted) -> BargeIn:
        detected = time.perf_counter()
        turn = self._turn
        heard, seconds = self.output.heard(turn.mark)  # what had reached the caller when they spoke
        turn.token.cancel("barge-in")
        # Wait for the turn to stop, but not for long: a voice in the middle of a long synthesis on a
        # loaded machine must not hold the session (it stops by itself, and nothing it makes after
        # the cancel is played: ``_deliver``).
        await asyncio.wait({turn.task}, timeout=CUT_IN_WAIT_S)
        self.output.flush()  # after the turn stopped (or gave up waiting), so nothing it queued plays
        cancel_ms = (time.perf_counter() - detected) * 1000
        if seconds * 1000 >= self.turn_taking.continuation_ms:
            self._settle(turn, heard)
        else:
            turn.settled = True  # heard almost nothing: the question is asked again with what follows
            self._carry = turn.user_text
            heard = ""
        return BargeIn(at=started.at, cancel_ms=cancel_ms, heard=heard)


def _words(text: str) -> list[str]:
    """Text as a run of words: case and punctuation aside, as Whisper may vary them between decodes."""
    return re.findall(r"[\w']+", text.lower())
