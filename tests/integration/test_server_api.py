"""The web server's HTTP side with bad input: clear errors, and the server keeps serving."""

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer

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
