"""Every call leaves a report: a live aiortc caller types a question, hears the answer and hangs up;
the report is in the folder with the turn's timings and none of the words, and the operator lists
and reads it with the token only. A folder that cannot be written changes nothing for the call."""

import asyncio
import json
import time

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from parley.config import ReportsConfig
from parley.live.app import Server
from parley.live.reports import Reports
from testbed.live_client import Caller

OPERATOR = "reports-test-operator"
QUESTION = "Where is the library?"


@pytest.fixture
def server(parley, monkeypatch):
    monkeypatch.setenv("PARLEY_OPERATOR_TOKEN", OPERATOR)
    return Server(parley)


async def call_and_hang_up(server: Server, ended, then):
    """One call on ``server`` (a typed question, its answer, the caller hangs up); ``then(http, base)``
    runs once ``ended()`` says the call's end was dealt with. Returns the caller's turn_done events and
    what ``then`` returned."""
    async with TestServer(server.app(), host="127.0.0.1") as site:
        base = f"http://127.0.0.1:{site.port}"
        caller = await Caller(base).connect()
        try:
            caller.type(QUESTION)
            done = await caller.answered(1, timeout=120)
        finally:
            await caller.close()
        deadline = time.monotonic() + 20
        while not ended() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        async with aiohttp.ClientSession() as http:
            return done, await then(http, base)


def test_a_call_leaves_a_report_with_its_turn_and_no_words(server, tmp_path):
    server.reports = Reports(ReportsConfig(folder=tmp_path / "reports"), tmp_path)
    bearer = {"Authorization": f"Bearer {OPERATOR}"}

    async def ask(http, base):
        out = {}
        for name, headers in (("refused", {}), ("listed", bearer)):
            async with http.get(f"{base}/api/reports", headers=headers) as response:
                out[name] = (response.status, await response.text())
        rid = json.loads(out["listed"][1])["reports"][0]["id"]
        async with http.get(f"{base}/api/reports/{rid}") as response:
            out["one refused"] = response.status
        async with http.get(f"{base}/api/reports/{rid}", headers=bearer) as response:
            out["one"] = await response.text()
        return out

    done, out = asyncio.run(call_and_hang_up(server, lambda: list((tmp_path / "reports").glob("*.json")), ask))
    assert not server.sessions
    assert out["refused"][0] == 401 and out["one refused"] == 401
    files = list((tmp_path / "reports").glob("*.json"))
    assert len(files) == 1 and files[0].read_text() == out["one"]
    report = json.loads(out["one"])
    assert report["how"] == "hung_up" and report["persona"] == "Ada" and report["avatar"] == server.avatar.name
    (turn,) = report["turns"]
    assert turn["input"] == "typed" and turn["outcome"] == "answered" and turn["grounding"] == done[0]["grounding"]
    assert turn["timings"]["first_audio_ms"] == pytest.approx(done[0]["timings"]["first_audio_ms"])
    assert 0 < turn["timings"]["first_audio_ms"] <= turn["timings"]["total_ms"]
    assert report["video"]["frames_sent"] > 0 and report["duration_s"] > 0
    # The words of neither side: the question, the reply, or any sentence of it.
    sentences = [s.strip() for s in done[0]["reply"].replace("?", ".").split(".") if len(s.strip()) > 8]
    assert sentences and not [s for s in [QUESTION, "library", *sentences] if s in out["one"]]


def test_a_folder_that_cannot_be_written_leaves_the_call_working(server, tmp_path):
    (tmp_path / "a_file").write_text("a file where the folder should be")
    server.reports = Reports(ReportsConfig(folder=tmp_path / "a_file" / "reports"), tmp_path)

    async def after(http, base):
        async with http.post(f"{base}/api/sessions") as response:  # the server still takes calls
            return response.status

    done, status = asyncio.run(call_and_hang_up(server, lambda: server.reports.failed, after))
    assert done[0]["timings"]["first_audio_ms"] > 0 and status == 200
    assert not server.sessions and server.reports.failed == 1
    assert b"parley_reports_failed_total 1.0" in server.metrics.text()
