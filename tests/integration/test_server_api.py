"""The web server's HTTP side with bad input: clear errors, and the server keeps serving."""

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer

from parley.live.admission import Admission
from parley.live.app import Server


@pytest.fixture(scope="module")
def server(parley):
    return Server(parley)


def run_client(server, scenario):
    async def main():
        async with TestClient(TestServer(server.app())) as client:
            return await scenario(client)

    return asyncio.run(main())


def test_pages_and_health(server):
    async def scenario(client):
        page = await client.get("/")
        script = await client.get("/web/app.js")
        health = await (await client.get("/healthz")).json()
        return page.status, await page.text(), script.status, health

    status, html, script_status, health = run_client(server, scenario)
    assert status == 200 and "Start conversation" in html and script_status == 200
    assert health["ok"] and health["sessions"] == 0
    # Where each stage runs: the default stack keeps every one in this process, on the CPU.
    assert health["stages"] == {s: "in-process-cpu" for s in ("vad", "turn", "asr", "llm", "tts", "face")}


def test_bad_offers_get_clear_errors(server):
    async def scenario(client):
        session = await (await client.post("/api/sessions")).json()
        results = {}
        results["not json"] = await client.post("/api/offer", data=b"{not json")
        results["missing keys"] = await client.post("/api/offer", json={"sdp": "x"})
        results["forged"] = await client.post("/api/offer", json={"token": "abc.def", "sdp": "x", "type": "offer"})
        results["viewer"] = await client.post("/api/offer", json={"token": session["viewer_token"], "sdp": "x",
                                                                  "type": "offer"})
        results["answer type"] = await client.post("/api/offer", json={"token": session["caller_token"], "sdp": "x",
                                                                       "type": "answer"})
        results["bad sdp"] = await client.post("/api/offer", json={"token": session["caller_token"],
                                                                   "sdp": "this is not sdp", "type": "offer"})
        out = {k: (r.status, await r.text()) for k, r in results.items()}
        out["health"] = (await client.get("/healthz")).status
        return session, out

    session, out = run_client(server, scenario)
    assert session["persona"]["name"] == "Ada" and session["caller_token"] != session["viewer_token"]
    assert out["not json"][0] == 400 and "JSON" in out["not json"][1]
    assert out["missing keys"][0] == 400
    assert out["forged"] == (403, "invalid session token")
    assert out["viewer"][0] == 403 and "viewer, not a caller" in out["viewer"][1]
    assert out["answer type"][0] == 400
    assert out["bad sdp"][0] == 400 and "not valid SDP" in out["bad sdp"][1]
    assert out["health"] == 200 and not server.sessions


def test_more_bad_bodies_name_what_is_wrong_and_leave_nothing_behind(server):
    async def scenario(client):
        token = (await (await client.post("/api/sessions")).json())["caller_token"]
        sent = {"sdp a number": {"token": token, "sdp": 123, "type": "offer"},
                "sdp missing": {"token": token, "type": "offer"},
                "a list": [token, "v=0", "offer"],
                "huge sdp": {"token": token, "sdp": "v=0\r\n" + "a=x\r\n" * 20000, "type": "offer"}}
        out = {name: await client.post("/api/offer", json=body) for name, body in sent.items()}
        out["too large"] = await client.post("/api/offer", data=b'{"sdp": "' + b"x" * (2 << 20) + b'"}')
        return {k: (r.status, await r.text()) for k, r in out.items()}

    out = run_client(server, scenario)
    assert out["sdp a number"] == (400, "sdp must be the offer's SDP text")
    assert out["sdp missing"][0] == 400 and out["sdp missing"][1].startswith("sdp missing")
    assert out["a list"][0] == 400 and "not an object" in out["a list"][1]
    assert out["huge sdp"][0] == 400 and "kB" in out["huge sdp"][1]
    assert out["too large"][0] == 413 and "size" in out["too large"][1]
    assert not server.sessions and not server.held()


async def offer_sdp(pc) -> str:
    """A real offer, as the page makes one (a microphone, a data channel), from a peer that never connects."""
    pc.addTransceiver("audio")
    pc.createDataChannel("parley")
    await pc.setLocalDescription(await pc.createOffer())
    return pc.localDescription.sdp


def test_offers_arriving_together_take_no_more_places_than_there_are(parley):
    from aiortc import RTCPeerConnection

    server = Server(parley)
    server.admission = Admission(max_sessions=2, per_minute=600, name="Ada")  # the rush comes from one address

    async def scenario(client):
        tokens = [(await (await client.post("/api/sessions")).json())["caller_token"] for _ in range(6)]
        peers = [RTCPeerConnection() for _ in tokens]
        sdps = await asyncio.gather(*(offer_sdp(pc) for pc in peers))
        replies = await asyncio.gather(*(client.post("/api/offer", json={"token": t, "sdp": s, "type": "offer"})
                                         for t, s in zip(tokens, sdps)))
        out = [(r.status, r.headers.get("Retry-After"), await r.text()) for r in replies]
        held = len(server.held())
        # A reconnect of an admitted caller keeps its place, even with the server full.
        admitted = next(t for t, r in zip(tokens, out) if r[0] == 200)
        again = await client.post("/api/offer", json={"token": admitted, "sdp": sdps[0], "type": "offer"})
        await asyncio.gather(*(pc.close() for pc in peers))
        return out, held, again.status

    out, held, again = run_client(server, scenario)
    assert sorted(status for status, _, _ in out) == [200, 200, 503, 503, 503, 503]
    refused = [r for r in out if r[0] == 503]
    assert all(int(retry) > 0 and "Ada is in 2 calls right now" in text for _, retry, text in refused)
    assert held == 2 and again == 200
    assert server.admission.refused["full"] == 4


def test_a_draining_server_is_not_ready_takes_no_one_and_stays_alive(parley):
    server = Server(parley)

    async def scenario(client):
        before = (await client.get("/readyz")).status
        server.drain()
        ready, health, created = await client.get("/readyz"), await client.get("/healthz"), \
            await client.post("/api/sessions")
        return (before, (ready.status, await ready.json()), health.status,
                (created.status, created.headers.get("Retry-After"), await created.text()))

    before, ready, health, (created, retry, text) = run_client(server, scenario)
    assert before == 200 and ready == (503, {"ready": False}) and health == 200
    assert created == 503 and int(retry) > 0 and "shutting down" in text
    assert "parley_draining 1.0" in server.metrics.text().decode()
