"""The operator's login: the token in a POST body gives a short-lived HttpOnly, SameSite=Strict cookie;
a wrong token waits and gets 401, an expired or forged cookie opens nothing, and a POST made with the
cookie must carry this server's Origin."""

import asyncio
import time
from types import SimpleNamespace

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from parley.config import RecordingConfig, ReportsConfig
from parley.live import operator
from parley.live.admission import Admission
from parley.live.metrics import Metrics
from parley.live.operator import Operator
from parley.live.protect import OPERATOR_COOKIE, OPERATOR_COOKIE_S, cookie_valid, operator_cookie
from parley.live.recordings import Recordings
from parley.live.reports import Reports

TOKEN = "operator-login-test"


class FakeCall:
    def __init__(self, call_id: str) -> None:
        self.id = call_id
        self.ended = None
        self.sent = []

    def send(self, event) -> None:
        self.sent.append(event)

    async def close(self, how: str) -> None:
        self.ended = how


def fake_server(settings, tmp_path, token=TOKEN):
    async def current_placements():
        return []

    return SimpleNamespace(operator=token, settings=settings, sessions={"call1": FakeCall("call1")},
                           admission=Admission(2, 60), draining=False, metrics=Metrics(lambda: {}),
                           reports=Reports(ReportsConfig(folder=tmp_path / "reports"), tmp_path),
                           recordings=Recordings(RecordingConfig(folder=tmp_path / "recordings"), tmp_path),
                           current_placements=current_placements)


def serve(server, requests):
    """Run ``requests(client)`` against the operator's routes of ``server``; returns what it returns."""
    app = web.Application()
    app.router.add_routes(Operator(server).routes())
    app.router.add_routes(server.reports.routes(server.operator))

    async def main():
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            return await requests(client)

    return asyncio.run(main())


def origin(client) -> dict:
    return {"Origin": f"http://127.0.0.1:{client.port}"}


def test_a_cookie_is_good_for_its_token_until_it_expires():
    now = 1_000_000.0
    value = operator_cookie(TOKEN, now)
    assert cookie_valid(value, TOKEN, now) and cookie_valid(value, TOKEN, now + OPERATOR_COOKIE_S - 1)
    assert not cookie_valid(value, TOKEN, now + OPERATOR_COOKIE_S)
    assert not cookie_valid(value, "another token", now)  # a new token ends every login
    expires, signature = value.split(".")
    assert not cookie_valid(f"{int(expires) + 3600}.{signature}", TOKEN, now)  # made to last longer
    assert TOKEN not in value
    for junk in ("", ".", "abc.def", f"{expires}.", "-1." + signature):
        assert not cookie_valid(junk, TOKEN, now)


def test_a_wrong_token_waits_and_gets_401_and_no_cookie(settings, tmp_path, monkeypatch):
    monkeypatch.setattr(operator, "LOGIN_DELAY_S", 0.4)

    async def requests(client):
        out = {}
        started = time.monotonic()
        response = await client.post("/operator/login", json={"token": "guess"}, headers=origin(client))
        out["wrong"] = (response.status, time.monotonic() - started, response.headers.get("Set-Cookie"))
        response = await client.post("/operator/login", data="token=" + TOKEN, headers=origin(client))
        out["not json"] = (response.status, await response.text())
        response = await client.get("/api/operator")
        out["no cookie"] = response.status
        return out

    out = serve(fake_server(settings, tmp_path), requests)
    status, waited, cookie = out["wrong"]
    assert status == 401 and waited >= 0.4 and cookie is None
    assert out["not json"] == (400, 'send a JSON object {"token": "the operator token"}')
    assert out["no cookie"] == 401


def test_a_login_gives_a_short_lived_http_only_strict_cookie_that_opens_the_operator_api(settings, tmp_path):
    async def requests(client):
        response = await client.post("/operator/login", json={"token": TOKEN}, headers=origin(client))
        set_cookie = response.headers["Set-Cookie"]
        cookie = {"Cookie": f"{OPERATOR_COOKIE}={response.cookies[OPERATOR_COOKIE].value}"}
        state = await client.get("/api/operator", headers=cookie)
        reports = await client.get("/api/reports", headers=cookie)
        logout = await client.post("/operator/logout", headers=origin(client) | cookie)
        return set_cookie, state.status, (await state.json())["calls"], reports.status, logout.headers["Set-Cookie"]

    server = fake_server(settings, tmp_path)
    server.sessions.clear()  # a fake call has no stats to show; the integration test shows a real one
    set_cookie, state, calls, reports, cleared = serve(server, requests)
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie and "Path=/" in set_cookie
    assert f"Max-Age={OPERATOR_COOKIE_S}" in set_cookie and TOKEN not in set_cookie
    assert state == 200 and reports == 200
    assert calls == []
    assert f"{OPERATOR_COOKIE}=\"\"" in cleared and "Max-Age=0" in cleared


def test_an_expired_or_foreign_cookie_opens_nothing(settings, tmp_path):
    async def requests(client):
        statuses = []
        for value in (operator_cookie(TOKEN, time.time() - OPERATOR_COOKIE_S - 1), operator_cookie("other"), TOKEN):
            response = await client.get("/api/operator", headers={"Cookie": f"{OPERATOR_COOKIE}={value}"})
            statuses.append(response.status)
        return statuses

    assert serve(fake_server(settings, tmp_path), requests) == [401, 401, 401]


def test_a_post_with_the_cookie_needs_this_servers_origin(settings, tmp_path):
    server = fake_server(settings, tmp_path)
    call = server.sessions["call1"]
    cookie = {"Cookie": f"{OPERATOR_COOKIE}={operator_cookie(TOKEN)}"}

    async def requests(client):
        out = {}
        for name, headers in (("no origin", cookie), ("another site", cookie | {"Origin": "https://evil.example"}),
                              ("login, no origin", {})):
            path = "/operator/login" if name.startswith("login") else "/api/operator/calls/call1/end"
            response = await client.post(path, headers=headers, json={"token": TOKEN})
            out[name] = (response.status, await response.text())
        out["ended before"] = call.ended
        response = await client.post("/api/operator/calls/call1/end", headers=cookie | origin(client))
        out["same origin"] = response.status
        response = await client.post("/api/operator/calls/nope/end", headers={"Authorization": f"Bearer {TOKEN}"})
        out["unknown, by header"] = response.status
        return out

    out = serve(server, requests)
    assert out["no origin"][0] == 403 and "no Origin header" in out["no origin"][1]
    assert out["another site"][0] == 403 and "evil.example" in out["another site"][1]
    assert out["login, no origin"][0] == 403
    assert out["ended before"] is None
    assert out["same origin"] == 200 and call.ended == "ended_by_operator"
    assert call.sent[0].error == "the operator ended this call"
    assert out["unknown, by header"] == 404  # a header needs no Origin: the token cannot be sent by another site


def test_with_no_operator_token_the_login_says_how_to_turn_it_on(settings, tmp_path):
    async def requests(client):
        response = await client.post("/operator/login", json={"token": "x"}, headers=origin(client))
        return response.status, await response.text()

    status, text = serve(fake_server(settings, tmp_path, token=None), requests)
    assert status == 403 and "server.operator_token" in text
