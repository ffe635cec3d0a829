"""One conversational turn from text in to speech and visemes out: generation and the speaker, joined.

    user text ─► Generation (plan; the LLM's thread) ─► Clauses (bounded) ─► Speaker (TTS threads) ─► SpokenChunk

The speaker speaks the first clause while the LLM is still writing the rest. ``Conversation.reply``
yields every event in order (each clause's ``TextDelta`` and ``TextChunk`` as it is decided, each
``SpokenChunk`` as it is made) and ends with ``TurnDone``, which reports what was delivered.
Cancelling the turn's token (barge-in) or closing the generator stops the LLM between tokens and the
TTS between chunks. The conversation reads the history to build its prompt; the voice session alone
writes it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

from parley.config import Settings
from parley.core.clauses import SIZE, Clauses, call_soon
from parley.core.events import TextDelta, TurnDone, TurnTimings
from parley.core.interfaces import CancelToken
from parley.core.speech import SpokenChunk
from parley.core.threads import StageExecutor
from parley.reply.generation import Generation
from parley.reply.history import Exchange, History
from parley.reply.knowledge import Knowledge
from parley.speak.speaker import Speaker

log = logging.getLogger("parley.reply")

# Spoken chunks made and not yet read by whoever consumes the reply: past this the speaker waits for
# the reader, the channel fills and the LLM's thread waits in turn (back-pressure up to the LLM).
SPOKEN = 8
# Each clause is told as text (TextDelta, TextChunk) when it is decided, before the speaker takes it:
# with the speaker waiting, at most SIZE clauses queued, one being put and one being spoken are told
# ahead of their audio. So the turn's event queue never holds more than this; it is sized to it, and
# a bug that broke the bound would raise QueueFull instead of growing it.
EVENTS = 3 * SPOKEN + 2 * (SIZE + 2) + 1
_END = object()


class Conversation:
    """A persona talking with one caller: its history, the generation of its words and its voice."""

    def __init__(self, settings: Settings, generation: Generation, speaker: Speaker,
                 llm_threads: StageExecutor, history: History | None = None) -> None:
        self.settings = settings
        self.generation = generation
        self.speaker = speaker
        self.llm_threads = llm_threads
        self.history = history or History()

    @property
    def knowledge(self) -> Knowledge:
        return self.generation.knowledge

    async def say(self, text: str, cancel: CancelToken | None = None) -> AsyncIterator:
        """Speak a fixed line (the apology after a failed reply), clause by clause: each clause's
        ``TextDelta`` (for the captions), then its ``SpokenChunk``."""
        for index, clause in enumerate(self.generation.clauses(text)):
            spoken = await self.speaker.speak(clause, index, cancel)
            yield TextDelta(clause if index == 0 else " " + clause)
            yield spoken

    def warm_up(self) -> None:
        """Prefill the persona's prompt, so the first reply does not wait for it (blocking)."""
        self.generation.llm.prefill(self.generation.prompt(self.history, ""))

    async def prepare_next(self, said: Exchange) -> None:
        """Prefill, while the caller listens to it, the prompt the next reply will start with: the
        history with ``said`` (the exchange just answered, committed when the next turn starts). The
        next reply then prefills only its facts and its question. Skipped when a reply is already
        waiting for the LLM, so none ever waits behind it; a failure only costs that head start."""
        if self.llm_threads.waiting:
            return
        history = self.history.plus(said)
        try:
            # Loaded here, not in the LLM's thread, if no reply has needed it yet (a fact is said without
            # it): llama.cpp points the process's stdout at /dev/null while a model loads, and what
            # another thread prints meanwhile (`parley chat`'s reply) would be lost.
            llm = self.generation.llm
            await self.llm_threads.run(lambda: llm.prefill(self.generation.prompt(history, "")))
        except Exception as exc:  # the next reply meets the same failure and reports it
            log.debug("no head start for the next reply: %s", exc)

    async def reply(self, user_text: str, cancel: CancelToken | None = None) -> AsyncIterator:
        cancel = cancel or CancelToken()
        plan = self.generation.plan(user_text, self.history)
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        ms: Callable[[], float] = lambda: (time.perf_counter() - t0) * 1000.0  # noqa: E731
        timings = TurnTimings()
        events: asyncio.Queue = asyncio.Queue(maxsize=EVENTS)
        room = asyncio.Semaphore(SPOKEN)

        async def deliver(chunk: SpokenChunk) -> None:
            await room.acquire()
            events.put_nowait(chunk)
        clauses = Clauses(loop, events.put_nowait, cancel, self.settings.stack.llm.pause_for_first_audio)
        if plan.prompt is None:
            queued = None
            writing = asyncio.ensure_future(self.generation.recite(plan, clauses))
        else:
            # The shared LLM serves one reply at a time, first come first served; a full queue raises Busy.
            queued = self.llm_threads.submit(self.generation.write, plan, clauses, cancel, timings, ms)
            writing = asyncio.wrap_future(queued)

        def drop_if_queued() -> None:
            if queued is not None and queued.cancel():  # it will never run: end its channel here
                clauses.end_unstarted()

        cancel.on_cancel(lambda: call_soon(loop, drop_if_queued))
        speaking = asyncio.ensure_future(self.speaker.run(clauses, cancel, timings, ms, deliver))
        both = asyncio.gather(writing, speaking, return_exceptions=True)
        both.add_done_callback(lambda _: events.put_nowait(_END))
        spoken: list[str] = []
        try:
            while (event := await events.get()) is not _END:
                if isinstance(event, SpokenChunk):
                    room.release()
                    spoken.append(event.speech.text)
                yield event
        finally:
            if not both.done():
                cancel.cancel("turn closed")
                drop_if_queued()
                room.release()  # a speaker waiting for the reader that left: it delivers no more once cancelled
            # Shielded: if whoever consumes this reply is cancelled meanwhile, the LLM and the speaker
            # still wind down together (the speaker drains what the LLM thread puts) instead of one of
            # them being cut off while the other waits on it.
            results = await asyncio.shield(both)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result
        timings.total_ms = ms()
        timings.interrupted = cancel.cancelled
        yield TurnDone(user=user_text, reply=" ".join(spoken), timings=timings, grounding=plan.outcome,
                       passages=tuple((p.text, p.source) for p in plan.passages))
