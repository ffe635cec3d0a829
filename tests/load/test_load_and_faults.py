"""Many callers, floods and faults against a real `parley serve`: everyone is answered, nobody can
freeze the server, and nothing a call started outlives it. Bounded in time throughout."""

import asyncio
import json
import random
import time
import urllib.error
import urllib.request

import aiohttp
import pytest

from testbed.live_client import Caller, Refused, serving

pytestmark = pytest.mark.load

QUESTIONS = ["Where is the library?", "When does the cafe open?", "How do I get to Hartley Hall?",
             "Is there parking on campus?", "Where can I study quietly?", "What is the wifi called?"]


def run(coro, timeout=240):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def callers(server, n, video=True):
    return await asyncio.gather(*(Caller(server.base, video=video).connect() for _ in range(n)))


async def close_all(group):
    await asyncio.gather(*(c.close() for c in group))


def wait_for_sessions(server, count, timeout=30):
    deadline = time.monotonic() + timeout
    while (live := server.get("/healthz")["sessions"]) != count and time.monotonic() < deadline:
        time.sleep(0.2)
    return live


def test_six_callers_asking_at_once_are_all_answered(server):
    async def scenario():
        group = await callers(server, 6)
        started = time.monotonic()
        for caller, question in zip(group, QUESTIONS):
            caller.type(question)
        done = await asyncio.gather(*(c.answered(1, timeout=180) for c in group))
        elapsed = time.monotonic() - started
        frames = [c.frames for c in group]
        await close_all(group)
        return done, elapsed, frames

    done, elapsed, frames = run(scenario())
    assert all(d[0]["reply"].strip() for d in done)
    assert [d[0]["user"] for d in done] == QUESTIONS  # each caller got the answer to their own question
    assert all(f > 0 for f in frames), frames
    assert wait_for_sessions(server, 0) == 0


def test_a_caller_flooding_messages_does_not_starve_another(server):
    async def scenario():
        flooder, asker = await callers(server, 2)
        for i in range(40):
            flooder.type(f"Message number {i}, please answer this one.")
        asker.type("Where is the library?")
        answer = await asker.answered(1, timeout=120)
        await flooder.wait_until(lambda: flooder.of_type("problem"), 10)
        await flooder.answered(1, timeout=120)  # the last message it was allowed replaced the others
        health = server.get("/healthz")
        await close_all([flooder, asker])
        return answer, flooder.of_type("problem"), flooder.of_type("typed"), health

    answer, problems, typed, health = run(scenario())
    assert answer[0]["user"] == "Where is the library?" and answer[0]["reply"]
    assert any("too many messages" in p["error"] for p in problems)
    assert 1 <= len(typed) <= 6  # a burst of five got through (one may have refilled), the rest were refused
    assert health["sessions"] == 2


def test_ended_calls_leave_cpu_tasks_threads_and_memory_at_baseline(server):
    def idle_cpu():
        server.ps.cpu_percent(None)
        time.sleep(3)
        return server.ps.cpu_percent(None)

    async def one_round():
        group = await callers(server, 3)
        for caller, question in zip(group, QUESTIONS):
            caller.type(question)
        await asyncio.gather(*(c.answered(1, timeout=180) for c in group))
        await close_all(group)

    run(one_round())  # warm: every engine, executor and codec is loaded
    assert wait_for_sessions(server, 0) == 0
    before = server.get("/api/stats", operator=True)
    rss_before = server.ps.memory_info().rss
    for _ in range(2):
        run(one_round())
        assert wait_for_sessions(server, 0) == 0
    time.sleep(1)
    after = server.get("/api/stats", operator=True)
    cpu = idle_cpu()
    rss_after = server.ps.memory_info().rss
    assert cpu < 10, f"{cpu:.0f} % of a core used with no call"
    assert after["sessions"] == {} and after["tasks"] <= before["tasks"] + 2, (before, after)
    assert after["threads"] <= before["threads"] + 2, (before, after)
    assert rss_after < rss_before * 1.15, (rss_before, rss_after)


BAD_SDP = {
    "a number": 0,
    "empty": "",
    "not SDP": "this is not sdp",
    "a version line only": "v=0\r\n",
    "no audio line": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
                     "c=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
                     "a=fingerprint:sha-256 00:11\r\na=sctp-port:5000\r\n",
    "no ICE credentials": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
                          "c=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\na=fingerprint:sha-256 00:11\r\n",
    "no fingerprint": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
                      "c=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\na=ice-ufrag:abcd\r\n"
                      "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n",
    "garbage media": "v=0\r\nm=garbage\r\n",
    "huge": "v=0\r\n" + "a=x\r\n" * 40000,
}


def test_bad_offers_leave_nothing_behind_and_never_drop_a_live_caller(server):
    async def scenario():
        live = await Caller(server.base).connect()
        replies = {}
        async with aiohttp.ClientSession() as http:
            for name, sdp in BAD_SDP.items():
                for token in (live.session["caller_token"], None):  # a live caller's reconnect, and new sessions
                    if token is None:
                        async with http.post(f"{server.base}/api/sessions") as r:
                            token = (await r.json())["caller_token"]
                    async with http.post(f"{server.base}/api/offer",
                                         json={"token": token, "sdp": sdp, "type": "offer"}) as r:
                        replies[name] = (r.status, await r.text())
        sessions = server.get("/healthz")["sessions"]
        live.type("Are you still there?")
        still = await live.answered(1, timeout=120)
        await live.close()
        return replies, sessions, still

    replies, sessions, still = run(scenario())
    for name, (status, text) in replies.items():
        assert status == 400 and "None is not in list" not in text and len(text) < 300, (name, status, text)
    assert "no audio line" in replies["no audio line"][1] and "ICE" in replies["no ICE credentials"][1]
    assert "fingerprint" in replies["no fingerprint"][1] and "kB" in replies["huge"][1]
    assert sessions == 1 and still[0]["reply"]
    assert wait_for_sessions(server, 0) == 0


def test_fuzzed_data_channel_messages_get_errors_and_the_call_goes_on(server):
    rng = random.Random(7)
    messages = [b"\xff\xfe\xfd not utf-8", "", "null", "[]", "42", '{"type": "text", "text": 12}',
                '{"type": "text"}', '{"type": "view", "view": "4d"}', '{"type": "nonsense"}', "{" * 500,
                json.dumps({"type": "text", "text": "x" * 5000}), "x" * 262144,
                *(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))) for _ in range(20)),
                *("".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(1, 300))) for _ in range(20))]

    async def scenario():
        caller = await Caller(server.base).connect()
        for message in messages:
            caller.send(message)
            await asyncio.sleep(0.01)
        await caller.wait_until(lambda: len(caller.of_type("problem")) >= 10, 20)
        await asyncio.sleep(1.5)  # the typed-message bucket refills
        caller.type("Where is the library?")
        answer = await caller.answered(1, timeout=120)
        await caller.close()
        return caller.of_type("problem"), answer

    problems, answer = run(scenario())
    assert answer[-1]["user"] == "Where is the library?" and answer[-1]["reply"]
    assert any("at most 4000 characters" in p["error"] for p in problems)
    assert any("JSON" in p["error"] for p in problems)
    assert "Traceback" not in server.log()
    assert wait_for_sessions(server, 0) == 0


def test_an_offer_that_never_connects_expires(server):
    async def scenario():
        from aiortc import RTCConfiguration, RTCPeerConnection

        async with aiohttp.ClientSession() as http:
            async with http.post(f"{server.base}/api/sessions") as r:
                token = (await r.json())["caller_token"]
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pc.addTransceiver("audio")
            await pc.setLocalDescription(await pc.createOffer())
            async with http.post(f"{server.base}/api/offer", json={"token": token, "sdp": pc.localDescription.sdp,
                                                                   "type": "offer"}) as r:
                status = r.status
            await pc.close()  # never applies the answer: the server's peer cannot connect
        return status

    assert run(scenario()) == 200
    assert server.get("/healthz")["sessions"] == 1
    assert wait_for_sessions(server, 0, timeout=15) == 0  # connect_timeout_s is 3 here


def test_an_audio_only_client_is_answered(server):
    async def scenario():
        caller = await Caller(server.base, video=False).connect()
        caller.type("Where is the library?")
        answer = await caller.answered(1, timeout=120)
        # A fact is said without the LLM: its turn can be done before the first audio packet has
        # crossed the connection, so the caller listens on for it.
        await caller.wait_until(lambda: caller.audio_frames > 0, 10)
        await caller.close()
        return answer, caller.frames, caller.audio_frames

    answer, frames, audio = run(scenario())
    assert answer[0]["reply"] and frames == 0 and audio > 0


def test_nothing_is_exposed_without_the_operator_token(server):
    health = server.get("/healthz")
    assert set(health) == {"ok", "sessions", "max_sessions", "stages"}
    # Where each stage runs, as a short label: why (addresses, model names) is the operator's.
    assert all(label.replace("-", "").isalpha() for label in health["stages"].values())
    for path in ("/metrics", "/api/stats"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.base + path, timeout=10)
        assert err.value.code == 401
    request = urllib.request.Request(server.base + "/metrics", headers={"Authorization": "Bearer load-test-operator"})
    metrics = urllib.request.urlopen(request, timeout=10).read().decode()
    assert "parley_sessions " in metrics and 'parley_turns_total{outcome="answered"}' in metrics
    assert "parley_grounded_replies_total{outcome=" in metrics
    assert 'parley_stage_seconds_bucket{le="0.5",stage="text_to_first_audio"}' in metrics
    page = urllib.request.urlopen(server.base + "/watch?token=SECRET-VIEWER-TOKEN", timeout=10)
    assert page.headers["Server"] == "parley" and "nosniff" in page.headers["X-Content-Type-Options"]
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    time.sleep(0.5)
    assert "SECRET-VIEWER-TOKEN" not in server.log() and "GET /watch 200" in server.log()


def test_a_full_server_says_when_to_come_back(tmp_path):
    with serving(tmp_path, max_sessions=1, calls_per_minute=600) as served:
        async def scenario():
            first = await Caller(served.base).connect()
            with pytest.raises(Refused) as refused:
                await Caller(served.base).connect()
            await first.close()
            wait_for_sessions(served, 0)
            second = await Caller(served.base).connect()  # room again
            await second.close()
            return refused.value

        refused = run(scenario())
        assert refused.status == 503 and int(refused.retry_after) > 0 and "try again" in refused.text
        assert 'parley_admissions_refused_total{reason="full"} 1.0' in urllib.request.urlopen(
            urllib.request.Request(served.base + "/metrics", headers={"Authorization": "Bearer load-test-operator"}),
            timeout=10).read().decode()


def test_one_address_cannot_open_calls_without_end(tmp_path):
    with serving(tmp_path, max_sessions=4, calls_per_minute=2) as served:
        statuses = []
        for _ in range(5):
            try:
                statuses.append(urllib.request.urlopen(urllib.request.Request(
                    served.base + "/api/sessions", method="POST"), timeout=10).status)
            except urllib.error.HTTPError as exc:
                statuses.append((exc.code, exc.headers["Retry-After"]))
        assert statuses[:3] == [200, 200, 200] and statuses[3][0] == 429 and int(statuses[3][1]) > 0

