"""A spoken conversation: the listener's utterances start turns, the caller's voice cuts them off.

    frames ─► Listener ─► Utterance ─► Conversation.reply ─► SpokenChunk … TurnDone
                  │
                  └─► SpeechStarted while the avatar talks ─► cancel the turn (barge-in)

The avatar "talks" from the moment a turn starts until its audio has played out, as told by a
``SpeechOutput``: the live media clock when a caller listens, or the wall clock otherwise. The voice
session is the one writer of the history: each exchange is committed once, when its turn is settled
(``parley.session.turn``), with what the caller actually heard. If they heard less than
``continuation_ms`` before cutting in, what they had said is carried over and joined to what they
say next, so a caller who paused mid-sentence gets one answer to the whole sentence.

An early reply (``turn_taking.early_reply``) starts on the words heard at the caller's first pause
(``PauseTranscript``), before the endpoint, as a HELD turn. When the endpoint confirms the same
words, what it holds is delivered at once and the reply goes on live; when the caller speaks on, or
the final words differ, it is dropped. ``EarlyReply`` says which.

Whatever changes the current turn (an utterance, typed text, the caller's voice) does so under one
lock, and never waits on another stage while holding it: a cut turn is cancelled and its queued
audio flushed at once; waiting for it to wind down happens after the lock is released.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterable, AsyncIterator

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
from parley.reply.history import Exchange
from parley.session.conversation import Conversation
from parley.session.turn import Phase, Turn, voice_timings
from parley.speak.output import WallClockOutput

log = logging.getLogger("parley.session")

CUT_IN_WAIT_S = 0.3  # longest a barge-in waits for the cut turn to stop before reporting it
# Events waiting for whoever runs the session (the call's data channel, the chat's printer). They are
# read as fast as they come; a reader this far behind has stopped (a caller gone without a word), so
# the oldest is dropped rather than the session holding a growing backlog.
EVENTS = 1024


class VoiceSession:
    def __init__(self, conversation: Conversation, listener: Listener | None,
                 turn_taking: TurnTakingConfig | None = None, output: SpeechOutput | None = None) -> None:
        self.conversation = conversation
        self.history = conversation.history
        self.listener = listener
        self.turn_taking = turn_taking or TurnTakingConfig()
        self.output = output or WallClockOutput()
        self._turn: Turn | None = None
        self._out: asyncio.Queue = asyncio.Queue(maxsize=EVENTS)
        self._carry = ""
        self._changing = asyncio.Lock()  # one change of the current turn at a time (see the module doc)
        self._preparing: asyncio.Future | None = None  # the next reply's prefill (Conversation.prepare_next)

    def avatar_speaking(self) -> bool:
        return (self._turn is not None and self._turn.replying) or self.output.speaking

    def _held(self) -> Turn | None:
        turn = self._turn
        return turn if turn is not None and turn.phase is Phase.HELD else None

    def _emit(self, event) -> None:
        if self._out.full():
            log.warning("session events not read: %s dropped", type(self._out.get_nowait()).__name__)
        self._out.put_nowait(event)

    async def run(self, frames: AsyncIterable[np.ndarray]) -> AsyncIterator:
        """Listen to ``frames`` and answer; yields every event until the frames end and the last
        turn is done. Typed text (``typed``) is answered meanwhile."""
        if self.listener is None:
            raise ValueError("this voice session has no listener; use respond() for text")
        done = object()

        async def listen() -> None:
            try:
                async for event in self.listener.listen(frames):
                    self._emit(event)
                    await self._heard(event)
                if self._turn is not None and self._turn.task is not None:
                    await asyncio.gather(self._turn.task, return_exceptions=True)
            finally:
                self._emit(done)

        listener_task = asyncio.ensure_future(listen())
        try:
            while (event := await self._out.get()) is not done:
                yield event
            await listener_task
        finally:
            listener_task.cancel()
            await asyncio.gather(listener_task, return_exceptions=True)
            await self.close()

    async def _heard(self, event) -> None:
        if isinstance(event, (SpeechStarted, SpeechResumed)) and self._held() is not None:
            async with self._changing:
                self._drop_held("the caller went on")
        if isinstance(event, SpeechStarted) and self.turn_taking.barge_in and self.avatar_speaking():
            async with self._changing:
                cut = self._cut_in(event)
            await self._report(cut)
        elif isinstance(event, PauseTranscript):
            await self._reply_early(event)
        elif isinstance(event, Utterance):
            await self._answer(event)

    async def typed(self, text: str) -> None:
        """Typed text from the caller (while ``run`` is going): answered like an utterance; a reply
        still running is cut off, as if the caller had spoken over it."""
        if not text.strip():
            return
        self._emit(Typed(text.strip()))
        await self._replace(text.strip(), None, SpeechStarted(0.0, 0.0))

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
            self._turn.retire()
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

    # --- a turn's events ----------------------------------------------------------------------------

    def _deliver(self, turn: Turn, event) -> None:
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
        self._emit(event)

    async def _speak(self, turn: Turn) -> None:
        try:
            async for event in self.conversation.reply(turn.user_text, turn.token):
                if turn.phase is Phase.HELD:
                    turn.held.append(event)
                elif turn.phase is not Phase.DROPPED:
                    self._deliver(turn, event)
        except Exception as exc:  # an engine failed: report it, say sorry, keep the session listening
            if turn.phase is Phase.HELD:  # an early reply fails quietly: the endpoint's turn will try again
                turn.held.append(exc)
                return
            if turn.phase is not Phase.LIVE:  # cut off, replaced or reset meanwhile: nobody waits for it
                log.info("a reply already over failed: %s", exc)
                return
            turn.move(Phase.FAILED)
            # A ParleyError's message already says what is wrong and how to fix it.
            error = str(exc) if isinstance(exc, ParleyError) else f"{type(exc).__name__}: {exc}"
            self._emit(TurnFailed(turn.user_text, error))
            await self._apologise(turn)

    async def _apologise(self, turn: Turn) -> None:
        try:
            async for event in self.conversation.say(self.conversation.settings.persona.apology, turn.token):
                if isinstance(event, SpokenChunk):
                    if turn.token.cancelled:
                        return  # the caller spoke meanwhile: their new turn has the output
                    self.output.add(event)
                self._emit(event)
        except Exception as exc:  # the voice itself failed: the TurnFailed already says what broke
            log.debug("apology not spoken: %s", exc)

    # --- changes of the current turn (each under the lock, none waiting) --------------------------------

    def _start_turn(self, text: str, utterance: Utterance | None, held: bool = False) -> Turn:
        self._stop_preparing()
        if self._turn is not None:
            if self._turn.replying:  # a reply still running is never left running beside the new one
                self._turn.token.cancel("replaced")
            self._settle(self._turn)  # before the prompt is built: it reads the history
        turn = Turn(text, utterance, CancelToken(), self.output.mark(), Phase.HELD if held else Phase.LIVE)
        turn.task = asyncio.ensure_future(self._speak(turn))
        self._turn = turn
        return turn

    async def _reply_early(self, heard: PauseTranscript) -> None:
        """Start the reply on what the caller said up to their pause, held (see the module doc)."""
        if not self.turn_taking.early_reply or not heard.text.strip() or self._carry:
            return
        async with self._changing:
            if self.avatar_speaking():
                return
            if self._held() is not None:
                self._drop_held("a later pause")
            self._start_turn(heard.text.strip(), None, held=True)

    def _drop_held(self, reason: str) -> None:
        turn = self._held()
        turn.token.cancel(f"early reply dropped: {reason}")
        turn.move(Phase.DROPPED)
        self._emit(EarlyReply("dropped", reason))

    def _confirm_held(self, turn: Turn, utterance: Utterance) -> bool:
        """Deliver an early reply whose words the endpoint confirmed; False if it had failed."""
        if any(isinstance(e, Exception) for e in turn.held):
            self._drop_held("it failed")
            return False
        held, turn.held = turn.held, []
        turn.move(Phase.LIVE)
        turn.utterance = utterance
        turn.head_start_ms = (time.perf_counter() - turn.started) * 1000
        self._emit(EarlyReply("used"))
        for event in held:  # no await in between: the reply's own task cannot slip an event past these
            self._deliver(turn, event)
        return True

    def _settle(self, turn: Turn, heard: str | None = None) -> None:
        """Commit ``turn``'s exchange once: what the caller heard of it, or all it delivered."""
        if turn.over:
            return
        if turn.phase is Phase.HELD:  # never confirmed: nothing of it was said
            turn.move(Phase.DROPPED)
            return
        was = turn.phase
        turn.move(Phase.SETTLED)
        if was is Phase.FAILED:  # half a reply and an apology: nothing the next prompt should build on
            return
        if heard is None:
            heard, _ = self.output.heard(turn.mark)
        interrupted = turn.token.cancelled or heard != " ".join(turn.delivered)
        if heard or not interrupted:  # a turn cut before a word leaves no trace
            self.history.add(turn.user_text, heard, interrupted=interrupted)

    async def _answer(self, utterance: Utterance) -> None:
        held = self._held()
        if held is not None and _words(held.user_text) == _words(utterance.text) and not self._carry:
            async with self._changing:
                if held is self._held() and self._confirm_held(held, utterance):
                    return
        elif held is not None:
            async with self._changing:
                if self._held() is not None:
                    self._drop_held("the endpoint heard other words")
        if not utterance.text.strip():
            self._emit(UtteranceIgnored(utterance, "no words were recognised"))
            return
        # Only without barge-in is the avatar still speaking here: a new question replaces the old reply.
        await self._replace(utterance.text, utterance, SpeechStarted(utterance.start, utterance.endpoint_at),
                            carry=True, report=False)

    async def _replace(self, text: str, utterance: Utterance | None, started: SpeechStarted,
                       carry: bool = False, report: bool = True) -> None:
        """Start a turn on ``text``, cutting off the avatar first if it is speaking (and, with
        ``report``, telling of the barge-in before the new turn's first event)."""
        async with self._changing:
            cut = self._cut_in(started) if self.avatar_speaking() else None
        if cut is not None and report:
            await self._report(cut)
        async with self._changing:
            if carry:
                text = f"{self._carry} {text}".strip()
                self._carry = ""
            self._start_turn(text, utterance)

    def _cut_in(self, started: SpeechStarted) -> tuple[Turn, SpeechStarted, float, str]:
        """Cancel the current turn and drop its queued audio, now; settle it with what was heard."""
        detected = time.perf_counter()
        turn = self._turn
        heard, seconds = self.output.heard(turn.mark)  # what had reached the caller when they spoke
        turn.token.cancel("barge-in")
        self.output.flush()  # nothing the cut turn makes from here on is played (``_deliver``)
        if seconds * 1000 >= self.turn_taking.continuation_ms:
            self._settle(turn, heard)
        else:  # heard almost nothing: the question is asked again with what follows
            turn.retire()
            self._carry = turn.user_text
            heard = ""
        return turn, started, detected, heard

    async def _report(self, cut: tuple[Turn, SpeechStarted, float, str]) -> None:
        """Wait, but not for long, for the cut turn to stop (a voice in the middle of a long synthesis
        on a loaded machine stops by itself), then tell of the barge-in and how long the cut took."""
        turn, started, detected, heard = cut
        if turn.task is not None:
            await asyncio.wait({turn.task}, timeout=CUT_IN_WAIT_S)
        self._emit(BargeIn(at=started.at, cancel_ms=(time.perf_counter() - detected) * 1000, heard=heard))


def _words(text: str) -> list[str]:
    """Text as a run of words: case and punctuation aside, as Whisper may vary them between decodes."""
    return re.findall(r"[\w']+", text.lower())
