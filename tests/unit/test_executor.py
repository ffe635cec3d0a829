"""A stage's own threads: first come first served, bounded, and a queued job that is cancelled never runs."""

import asyncio
import os
import sys
import threading
import time

import pytest

from parley.core.threads import Busy, StageExecutor


def test_a_full_queue_refuses_at_once_and_frees_as_jobs_start():
    gate = threading.Event()
    stage = StageExecutor("llm", workers=1, max_waiting=2)
    running = stage.submit(gate.wait, 5)
    time.sleep(0.05)  # the first job has started: it no longer waits
    queued = [stage.submit(lambda: "done") for _ in range(2)]
    with pytest.raises(Busy, match="answering 2 other requests"):
        stage.submit(lambda: "one too many")
    gate.set()
    assert running.result(5) and [f.result(5) for f in queued] == ["done", "done"]
    assert stage.waiting == 0
    stage.shutdown()


def test_a_cancelled_queued_job_never_runs_and_leaves_the_queue():
    gate = threading.Event()
    ran = []
    stage = StageExecutor("llm", workers=1, max_waiting=4)
    stage.submit(gate.wait, 5)
    time.sleep(0.05)
    queued = stage.submit(ran.append, "should not run")
    assert queued.cancel() and stage.waiting == 0
    gate.set()
    stage.submit(lambda: None).result(5)
    assert ran == []
    stage.shutdown()


def test_cancelling_the_awaiting_task_drops_a_job_that_has_not_started():
    gate = threading.Event()
    ran = []
    stage = StageExecutor("tts", workers=1)

    async def scenario():
        blocker = asyncio.ensure_future(stage.run(gate.wait, 5))
        await asyncio.sleep(0.05)
        waiting = asyncio.ensure_future(stage.run(ran.append, "late"))
        await asyncio.sleep(0.05)
        waiting.cancel()
        await asyncio.sleep(0.05)  # the cancellation reaches the queue on the loop's next turns
        assert stage.waiting == 0
        gate.set()
        await blocker
        await stage.run(lambda: None)

    asyncio.run(scenario())
    assert ran == [] and stage.waiting == 0
    stage.shutdown()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread names and priorities through /proc")
def test_a_stages_threads_carry_its_name_and_priority_in_the_os():
    stage = StageExecutor("face", workers=1, nice=7)

    def seen_by_the_os():
        tid = threading.get_native_id()
        return open(f"/proc/self/task/{tid}/comm").read().strip(), os.getpriority(os.PRIO_PROCESS, tid)

    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert stage.submit(seen_by_the_os).result(5) == ("parley-face", min(19, base + 7))
    assert os.getpriority(os.PRIO_PROCESS, 0) == base  # the rest of the process is untouched
    stage.shutdown()
