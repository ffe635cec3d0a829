"""A real `parley serve` under a rush of callers, and while it drains after SIGTERM: it admits no more
calls than it serves, tells the others when to come back, and lets the calls in progress end."""

import asyncio
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import aiohttp
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from testbed.live_client import Caller, Refused, serving

pytestmark = pytest.mark.load


def run(coro, timeout=240):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def status(url: str) -> int:
    try:
        return urllib.request.urlopen(url, timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_for_sessions(served, count, timeout=30):
    deadline = time.monotonic() + timeout
    while (live := served.get("/healthz")["sessions"]) != count and time.monotonic() < deadline:
        time.sleep(0.2)
    return live


async def connect_or_refusal(base: str):
    started = time.monotonic()
    try:
        return await Caller(base).connect(), time.monotonic() - started
    except Refused as refused:
        return refused, time.monotonic() - started


@pytest.fixture(scope="module")
def two_calls(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("serve"), max_sessions=2, connect_timeout_s=3) as served:
        yield served


def test_six_callers_at_once_on_a_two_call_server(two_calls):
    async def scenario():
        results = await asyncio.gather(*(connect_or_refusal(two_calls.base) for _ in range(6)))
        admitted = [c for c, _ in results if isinstance(c, Caller)]
        for caller in admitted:
            caller.type("Where is the library?")
        answers = await asyncio.gather(*(c.answered(1, timeout=120) for c in admitted))
        await asyncio.gather(*(c.close() for c in admitted))
        return results, answers

    results, answers = run(scenario())
    refused = [(r, took) for r, took in results if isinstance(r, Refused)]
    assert len(answers) == 2 and all(a[0]["reply"] for a in answers)
    assert len(refused) == 4
    assert all(r.status == 503 and int(r.retry_after) > 0 and "try again" in r.text for r, _ in refused)
    assert all(took < 10 for _, took in refused)  # told at once, not after waiting on a call
    assert wait_for_sessions(two_calls, 0) == 0


def test_offers_that_never_connect_hold_a_place_only_until_the_connect_timeout(two_calls):
    async def offer(http, pc):
        async with http.post(f"{two_calls.base}/api/sessions") as r:
            token = (await r.json())["caller_token"]
        pc.addTransceiver("audio")
        await pc.setLocalDescription(await pc.createOffer())
        async with http.post(f"{two_calls.base}/api/offer",
                             json={"token": token, "sdp": pc.localDescription.sdp, "type": "offer"}) as r:
            return r.status, r.headers.get("Retry-After")

    async def scenario():
        peers = [RTCPeerConnection(RTCConfiguration(iceServers=[])) for _ in range(20)]
        async with aiohttp.ClientSession() as http:
            replies = await asyncio.gather(*(offer(http, pc) for pc in peers))
        await asyncio.gather(*(pc.close() for pc in peers))  # none ever applies its answer
        return replies

    replies = run(scenario())
    assert sorted(s for s, _ in replies).count(200) == 2
    assert all(s == 503 and int(retry) > 0 for s, retry in replies if s != 200)
    assert wait_for_sessions(two_calls, 0, timeout=15) == 0  # connect_timeout_s is 3 here

    async def room_again():
        group = await asyncio.gather(Caller(two_calls.base).connect(), Caller(two_calls.base).connect())
        await asyncio.gather(*(c.close() for c in group))

    run(room_again())
    # The calls just closed are let go after their peers hang up: the next test on this server must
    # not find their places still taken.
    assert wait_for_sessions(two_calls, 0) == 0


def test_malformed_offers_leave_no_place_taken(two_calls):
    bodies = [{"sdp": 123, "type": "offer"}, {"type": "offer"}, {"sdp": "v=0\r\n" + "a=x\r\n" * 20000, "type": "offer"},
              {"sdp": "this is not sdp", "type": "offer"}]

    async def scenario():
        statuses = []
        async with aiohttp.ClientSession() as http:
            for body in bodies * 2:
                async with http.post(f"{two_calls.base}/api/sessions") as r:
                    token = (await r.json())["caller_token"]
                async with http.post(f"{two_calls.base}/api/offer", json={"token": token, **body}) as r:
                    statuses.append(r.status)
            async with http.post(f"{two_calls.base}/api/offer", data=b"{not json") as r:
                statuses.append(r.status)
        group = await asyncio.gather(Caller(two_calls.base).connect(), Caller(two_calls.base).connect())
        await asyncio.gather(*(c.close() for c in group))
        return statuses

    assert run(scenario()) == [400] * (2 * len(bodies) + 1)
    assert wait_for_sessions(two_calls, 0) == 0


def exited_within(process, timeout: float) -> float | None:
    started = time.monotonic()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        return None
    return time.monotonic() - started


def test_sigterm_drains_the_call_in_progress_and_exits_when_it_ends(tmp_path):
    with serving(tmp_path, max_sessions=4, drain_s=120) as served:
        async def scenario():
            caller = await Caller(served.base).connect()
            os.kill(served.process.pid, signal.SIGTERM)
            await asyncio.sleep(0.5)
            with pytest.raises(Refused) as refused:
                await Caller(served.base).connect()
            probes = {path: status(served.base + path) for path in ("/readyz", "/healthz")}
            stats = served.get("/api/stats", operator=True)
            caller.type("Where is the library?")  # the call in progress is still answered
            answer = await caller.answered(1, timeout=120)
            alive = served.process.poll() is None
            await caller.close()
            return refused.value, probes, stats, answer, alive

        refused, probes, stats, answer, alive = run(scenario())
        took = exited_within(served.process, 30)
        assert refused.status == 503 and int(refused.retry_after) > 0 and "shutting down" in refused.text
        assert probes == {"/readyz": 503, "/healthz": 200} and stats["draining"] is True
        assert answer[0]["reply"] and alive
        assert took is not None and served.process.returncode == 0, served.log()[-2000:]
        assert "drained: no call left" in served.log()


async def seconds_to_exit(served, limit_s: float = 30) -> float:
    """How long the server took to exit after the signal just sent (``limit_s`` at most)."""
    signalled = time.monotonic()
    while served.process.poll() is None and time.monotonic() - signalled < limit_s:
        await asyncio.sleep(0.1)
    return time.monotonic() - signalled


def test_the_grace_period_ends_calls_that_go_on(tmp_path):
    with serving(tmp_path, drain_s=3) as served:
        async def scenario():
            caller = await Caller(served.base).connect()
            os.kill(served.process.pid, signal.SIGTERM)
            took = await seconds_to_exit(served)
            await caller.close()
            return took

        took = run(scenario())
        assert served.process.poll() == 0, served.log()[-2000:]
        assert 3 <= took < 20 and "3 s have passed" in served.log()


def test_a_second_signal_ends_the_calls_at_once(tmp_path):
    with serving(tmp_path, drain_s=120) as served:
        async def scenario():
            caller = await Caller(served.base).connect()
            os.kill(served.process.pid, signal.SIGTERM)
            await asyncio.sleep(1)
            os.kill(served.process.pid, signal.SIGINT)
            took = await seconds_to_exit(served)
            await caller.close()
            return took

        took = run(scenario())
        assert served.process.poll() == 0, served.log()[-2000:]
        assert took < 15 and "SIGINT again" in served.log()
