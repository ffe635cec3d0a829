"""Each stage's own worker threads, shared by every session.

A stage never borrows another's threads (nor asyncio's default pool, which aiortc's encoders use),
so a stage waiting on another cannot starve it. Jobs run first come, first served: one turn per
session at a time makes that fair across sessions. A stage may bound how many jobs wait: past that
it refuses at once (``Busy``), so a flood tells the caller to wait instead of stalling everyone.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from parley.core.errors import ParleyError

T = TypeVar("T")


def start_worker(name: str, nice: int) -> None:
    """Give the calling thread ``name`` in the OS too (``top -H``, /proc), not only in Python, and
    lower its CPU priority by ``nice``. Native workers a stage starts (llama.cpp's, onnxruntime's)
    inherit both, so a stage's whole CPU shows under its name."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
        if nice:  # on Linux, PRIO_PROCESS with a thread's id reads and sets that thread's nice value alone
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))


def all_cores_but_one() -> int:
    """Threads for an engine whose threads wait for each other (llama.cpp, CTranslate2): one kept
    off its core by the calls' media would stall the rest, so one core is left to the media."""
    return max(1, (os.cpu_count() or 1) - 1)


def named_pool(name: str, workers: int | None = None, nice: int = 0) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix=name, initializer=start_worker, initargs=(name, nice))


class Busy(ParleyError):
    """A stage's queue is full: the caller should try again shortly."""


class StageExecutor:
    def __init__(self, stage: str, workers: int, max_waiting: int | None = None, nice: int = 0) -> None:
        self.stage = stage
        self.max_waiting = max_waiting
        self._pool = named_pool(f"parley-{stage}", workers, nice)
        self._lock = threading.Lock()
        self.waiting = 0  # submitted, not started

    def submit(self, fn: Callable[..., T], *args) -> Future:
        """Queue ``fn(*args)``; ``Busy`` if the queue is full. A job cancelled before it starts never runs."""
        with self._lock:
            if self.max_waiting is not None and self.waiting >= self.max_waiting:
                raise Busy(f"the avatar is answering {self.waiting} other requests; try again in a moment")
            self.waiting += 1

        def job():
            self._started()
            return fn(*args)

        future = self._pool.submit(job)
        future.add_done_callback(lambda f: f.cancelled() and self._started())
        return future

    def _started(self) -> None:
        with self._lock:
            self.waiting -= 1

    async def run(self, fn: Callable[..., T], *args) -> T:
        """``fn(*args)`` on this stage's threads; cancelling the caller drops the job if it has not started."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    def shutdown(self) -> None:
        """No new jobs; queued ones are dropped, running ones finish (their turns were cancelled)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
