"""Where a reply's words become speech: the one bounded channel from generation to the speaker.

    generation (the LLM's thread, or the event loop for a fixed line) ──say()──► Clauses ──next()──► speaker

Each clause said is told at once to the turn's events (``TextDelta`` for the captions, then its
``TextChunk``) and queued for the speaker. Full, ``say`` blocks the LLM's thread until the speaker
takes one: back-pressure, so a cancelled turn has little queued work to throw away. The speaker
drains the channel to its end even once the turn is cancelled, so a blocked ``say`` always returns;
it also returns once the speaker has stopped or the event loop is gone.

The first-clause hand-off: on a few cores, decoding on would slow the synthesis of the first clause,
which is what the caller is waiting for. With ``pause_after_first``, ``say`` of the first clause
returns only once the speaker has made its audio (or given up on it): the LLM waits meanwhile, and
that audio outlasts the pause.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable

from parley.core.events import Event, TextChunk, TextDelta
from parley.core.interfaces import CancelToken

SIZE = 4  # clauses waiting for the speaker
_END = object()
_POLL_S = 0.25  # how often a blocked producer checks whether anyone will still take its clause


class Clauses:
    def __init__(self, loop: asyncio.AbstractEventLoop, tell: Callable[[Event], None], cancel: CancelToken,
                 pause_after_first: bool = False, size: int = SIZE) -> None:
        self._loop = loop
        self._tell = tell  # the turn's events, on the loop
        self._cancel = cancel
        self._queue: asyncio.Queue = asyncio.Queue(maxsize=size)
        self._pause_after_first = pause_after_first
        self._first_spoken = threading.Event()
        self._stopped = threading.Event()  # the speaker takes no more
        self._ended = False
        self.said: list[str] = []  # every clause announced, in order

    def _announce(self, text: str) -> TextChunk:
        chunk = TextChunk(text, len(self.said))
        self.said.append(text)
        for event in (TextDelta(text if chunk.index == 0 else " " + text), chunk):
            call_soon(self._loop, lambda e=event: self._tell(e))
        return chunk

    # --- generation's side ------------------------------------------------------------------------

    def say(self, text: str) -> None:
        """From generation's thread: announce ``text`` and queue it; blocks while the channel is full."""
        chunk = self._announce(text)
        self._put(chunk)
        if chunk.index == 0 and self._pause_after_first:
            while not (self._first_spoken.wait(0.05) or self._cancel.cancelled):
                pass

    def end(self) -> None:
        """From generation's thread: nothing more will be said."""
        self._put(_END)

    async def say_now(self, text: str) -> None:
        """From the event loop (a fixed line, no LLM): announce and queue ``text``."""
        await self._queue.put(self._announce(text))

    async def end_now(self) -> None:
        await self._queue.put(_END)

    def end_unstarted(self) -> None:
        """The turn was cancelled before generation ever ran (still queued for the shared LLM): end the
        channel for it, so the speaker stops now, not when the LLM gets to a turn that will not run."""
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(_END)

    def _put(self, item) -> None:
        if item is not _END and self._cancel.cancelled:
            return
        put = asyncio.run_coroutine_threadsafe(self._queue.put(item), self._loop)
        while True:
            try:
                return put.result(_POLL_S)
            except concurrent.futures.TimeoutError:
                if self._stopped.is_set() or not self._loop.is_running():
                    put.cancel()
                    return

    # --- the speaker's side -----------------------------------------------------------------------

    async def next(self) -> TextChunk | None:
        """The next clause to speak; None at the end."""
        item = await self._queue.get()
        if item is _END:
            self._ended = True
            return None
        return item

    def first_spoken(self) -> None:
        """The first clause's audio is made, or will not be: generation may go on."""
        self._first_spoken.set()

    def stop(self) -> None:
        """The speaker takes no more; a producer blocked on a full channel gives up."""
        self._stopped.set()
        self._first_spoken.set()


def call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """``callback`` on ``loop`` from any thread; nothing if the loop has already closed."""
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:
        pass
