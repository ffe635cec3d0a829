"""One conversational turn from text in to speech and visemes out.

    user text ─► passages ─► prompt ─► LLM (thread) ─► splitter ─► check ─► TextChunk ─► TTS (thread)
                                                                                          ─► SpokenChunk

The LLM and TTS run concurrently in worker threads joined by a bounded queue, so the first clause is
spoken while the LLM is still writing the rest. With grounding on (the persona's, by default), the
question is first matched against the persona's knowledge: nothing matched, and the decline line is
said without asking the LLM; passages that only touch on the question are said as they are. Each
clause the LLM writes is checked before it is spoken, and one that states something its passages do
not back is replaced by the best passage (``parley.reply.grounding``). ``Conversation.reply`` yields
every event in order and ends with ``TurnDone``, which reports what was delivered. Cancelling the
turn's token (barge-in) or closing the generator stops the LLM between tokens and the TTS between
chunks. The conversation reads the history to build its prompt; the voice session alone writes it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from parley.config import Settings
from parley.core.events import TextChunk, TextDelta, TurnDone, TurnTimings
from parley.core.interfaces import Cancelled, CancelToken
from parley.core.speech import SpeechSegment, SpokenChunk
from parley.reply.grounding import Grounding
from parley.reply.history import Exchange, History
from parley.reply.knowledge import Knowledge, Passage
from parley.reply.prompt import PromptBuilder
from parley.reply.splitter import ClauseSplitter
from parley.speak.pauses import tighten

if TYPE_CHECKING:
    from parley.assemble import Engines

log = logging.getLogger("parley.reply")

# Chunks waiting for TTS: small, so a cancelled turn has little queued work to throw away.
_TTS_QUEUE = 4
_END = object()


class Conversation:
    """A persona talking with one caller: its history and the engines it speaks through."""

    def __init__(self, settings: Settings, engines: "Engines", history: History | None = None,
                 knowledge: Knowledge | None = None) -> None:
        self.settings = settings
        self.engines = engines
        self.history = history or History()
        self.knowledge = knowledge or Knowledge.of(settings.persona)
        self.grounded = settings.persona.grounding.mode == "strict"
        self.prompts = PromptBuilder(settings.persona, settings.prompt_style, self.knowledge)

    def _prompt(self, user_text: str, passages: list[Passage] = (), history: History | None = None):
        llm = self.engines.llm
        budget = llm.context_size - self.settings.stack.llm.max_tokens
        return self.prompts.build(history or self.history, user_text, llm.count_tokens, budget, passages)

    def _clauses(self, text: str) -> list[str]:
        splitter = ClauseSplitter(self.settings.stack.splitter)
        return splitter.feed(text) + splitter.flush()

    def _instead(self, passages: list[Passage]) -> str:
        """What is said when the LLM's words cannot be: the best passage, or the decline line."""
        persona = self.settings.persona
        return persona.fallback.format(passage=passages[0].text) if passages else persona.decline

    def _without_llm(self, user_text: str, passages: list[Passage]) -> tuple[str, str] | None:
        """A reply said without asking the LLM, as (grounding outcome, text); None when it is asked."""
        if not self.grounded:
            return None
        persona = self.settings.persona
        if not passages:  # nothing known matches: decline, unless there is no subject ("thanks!")
            return ("declined", persona.decline) if self.knowledge.asks_for_facts(user_text) else None
        if self.knowledge.coverage(user_text, passages) < persona.grounding.llm_min_coverage:
            return "quoted", self._instead(passages)  # they only touch on it: say what they say
        return None

    async def say(self, text: str, cancel: CancelToken | None = None) -> AsyncIterator:
        """Speak a fixed line (the apology after a failed reply), clause by clause: each clause's
        ``TextDelta`` (for the captions), then its ``SpokenChunk``."""
        for index, clause in enumerate(self._clauses(text)):
            speech = await self.engines.executor("tts").run(self.engines.tts.synthesize, clause, cancel)
            speech.index = index
            yield TextDelta(clause if index == 0 else " " + clause)
            yield self._spoken(speech)

    def _spoken(self, speech: SpeechSegment) -> SpokenChunk:
        """A chunk as it is played: the voice's padding cut to a natural pause, and its visemes."""
        speech = tighten(speech)
        return SpokenChunk(speech, self.engines.visemes.track(speech))

    def warm_up(self) -> None:
        """Prefill the persona's prompt, so the first reply does not wait for it (blocking)."""
        self.engines.llm.prefill(self._prompt(""))

    async def prepare_next(self, said: Exchange) -> None:
        """Prefill, while the caller listens to it, the prompt the next reply will start with: the
        history with ``said`` (the exchange just answered, committed when the next turn starts). The
        next reply then prefills only its facts and its question. Skipped when a reply is already
        waiting for the LLM, so none ever waits behind it; a failure only costs that head start."""
        executor = self.engines.executor("llm")
        if executor.waiting:
            return
        history = self.history.plus(said)
        try:
            await executor.run(lambda: self.engines.llm.prefill(self._prompt("", history=history)))
        except Exception as exc:  # the next reply meets the same failure and reports it
            log.debug("no head start for the next reply: %s", exc)

    async def reply(self, user_text: str, cancel: CancelToken | None = None) -> AsyncIterator:
        cancel = cancel or CancelToken()
        llm_cfg = self.settings.stack.llm
        passages = self.knowledge.search(user_text) if self.grounded else []
        grounding = Grounding(self.settings.persona, user_text, passages) if self.grounded else None
        outcome = "answered" if self.grounded else "off"
        scripted = self._without_llm(user_text, passages)
        if scripted is not None:
            (outcome, script), llm, prompt = scripted, None, None
        else:
            llm = self.engines.llm
            prompt = self._prompt(user_text, passages)
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        ms = lambda: (time.perf_counter() - t0) * 1000.0  # noqa: E731
        timings = TurnTimings()
        events: asyncio.Queue = asyncio.Queue()
        chunks: asyncio.Queue = asyncio.Queue(maxsize=_TTS_QUEUE)
        # Set once the first chunk has been synthesised (or given up on).
        first_chunk_spoken = threading.Event()
        tts_stopped = threading.Event()  # the TTS loop takes no more chunks

        def put_chunk(item) -> None:
            # Blocks the LLM thread while TTS is behind: back-pressure instead of an unbounded backlog.
            # The TTS loop drains the queue until _END even when cancelled, so this cannot deadlock.
            if item is not _END and cancel.cancelled:
                return
            put = asyncio.run_coroutine_threadsafe(chunks.put(item), loop)
            while True:
                try:
                    return put.result(0.25)
                except concurrent.futures.TimeoutError:
                    # Nobody will take it: the TTS loop has stopped, or the server is shutting down.
                    if tts_stopped.is_set() or not loop.is_running():
                        put.cancel()
                        return

        said: list[str] = []

        def announce(text: str) -> TextChunk:
            """The next clause to speak: told to the page (as the reply's text so far), then to TTS."""
            chunk = TextChunk(text, len(said))
            said.append(text)
            for event in (TextDelta(text if chunk.index == 0 else " " + text), chunk):
                _call_soon(loop, lambda e=event: events.put_nowait(e))
            return chunk

        def emit(texts: list[str]) -> None:
            for text in texts:
                chunk = announce(text)
                put_chunk(chunk)
                if chunk.index == 0 and llm_cfg.pause_for_first_audio:
                    # On a few cores, decoding on would slow the synthesis of the first chunk,
                    # which is what the caller is waiting for; its audio outlasts the pause.
                    while not (first_chunk_spoken.wait(0.05) or cancel.cancelled):
                        pass

        def emit_checked(texts: list[str]) -> bool:
            """Emit the clauses until one is not backed; then what is said instead, and False."""
            nonlocal outcome
            for text in texts:
                problem = grounding.check(text) if grounding is not None else None
                if problem is not None:
                    log.info("not said (%s): %r; said instead: the %s", problem, text,
                             "passage" if passages else "decline line")
                    outcome = "replaced"
                    emit(self._clauses(self._instead(passages)))
                    return False
                emit([text])
            return True

        def run_llm() -> None:
            timings.llm_started_ms = ms()
            splitter = ClauseSplitter(self.settings.stack.splitter)
            pieces = llm.stream(prompt, llm_cfg.max_tokens, cancel)
            nonlocal outcome
            try:
                for piece in pieces:
                    if timings.llm_first_token_ms is None:
                        timings.llm_first_token_ms = ms()
                    timings.tokens += 1
                    if not emit_checked(splitter.feed(piece)):
                        return
                if emit_checked(splitter.flush()) and passages and not grounding.uses(" ".join(said)):
                    outcome = "added"  # an answer that used none of what it was given
                    emit(self._clauses(self._instead(passages)))
            finally:
                pieces.close()  # stops the engine decoding (a replaced reply is not read to its end)
                timings.llm_done_ms = ms()
                put_chunk(_END)

        async def run_script() -> None:
            try:
                for text in self._clauses(script):
                    await chunks.put(announce(text))
            finally:
                await chunks.put(_END)

        async def run_tts() -> None:
            try:
                await speak_chunks()
            finally:
                tts_stopped.set()
                first_chunk_spoken.set()  # an LLM paused for the first chunk must not wait for ever

        async def speak_chunks() -> None:
            failure = None
            while (chunk := await chunks.get()) is not _END:
                if cancel.cancelled:
                    continue  # drain: the LLM thread may be waiting to put the next chunk
                if timings.first_chunk_ms is None:
                    timings.first_chunk_ms = ms()
                try:
                    speech = await tts_threads.run(self.engines.tts.synthesize, chunk.text, cancel)
                    speech.index = chunk.index
                    spoken_chunk = self._spoken(speech)
                    speech = spoken_chunk.speech
                except Cancelled:
                    continue
                except Exception as exc:  # stop the LLM too, then report the failure
                    failure = failure or exc
                    cancel.cancel(f"speech synthesis failed: {exc}")
                    continue
                finally:
                    first_chunk_spoken.set()
                if cancel.cancelled:
                    continue
                if timings.first_audio_ms is None:
                    timings.first_audio_ms = ms()
                timings.audio_seconds += speech.duration
                await events.put(spoken_chunk)
            if failure is not None:
                raise failure

        tts_threads = self.engines.executor("tts")
        if llm is None:
            generation = None
            llm_task = asyncio.ensure_future(run_script())
        else:
            # The shared LLM serves one reply at a time, first come first served; a full queue raises Busy.
            generation = self.engines.executor("llm").submit(run_llm)
            llm_task = asyncio.wrap_future(generation)

        def drop_if_queued() -> None:
            # Cancelled while still queued behind other sessions: it will never run, so end the TTS
            # loop here; the turn ends now, not when the LLM gets to it.
            if generation is not None and generation.cancel() and not dropped:
                dropped.append(True)
                chunks.put_nowait(_END)

        dropped: list[bool] = []
        cancel.on_cancel(lambda: _call_soon(loop, drop_if_queued))
        tts_task = asyncio.ensure_future(run_tts())
        both = asyncio.gather(llm_task, tts_task, return_exceptions=True)
        both.add_done_callback(lambda _: events.put_nowait(_END))
        spoken: list[str] = []
        try:
            while (event := await events.get()) is not _END:
                if isinstance(event, SpokenChunk):
                    spoken.append(event.speech.text)
                yield event
        finally:
            if not both.done():
                cancel.cancel("turn closed")
                drop_if_queued()
            # Shielded: if whoever consumes this reply is cancelled meanwhile, the LLM and TTS still
            # wind down together (the TTS loop drains what the LLM thread puts) instead of one of
            # them being cut off while the other waits on it.
            results = await asyncio.shield(both)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result
        timings.total_ms = ms()
        timings.interrupted = cancel.cancelled
        yield TurnDone(user=user_text, reply=" ".join(spoken), timings=timings, grounding=outcome)


def _call_soon(loop: asyncio.AbstractEventLoop, callback) -> None:
    """``callback`` on ``loop`` from any thread; nothing if the loop has already closed."""
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:
        pass
