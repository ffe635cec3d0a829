"""A call's report: its turns' timings, outcomes and fallbacks without a word said; the folder it is
kept in: written whole, pruned, listed and read only with the operator token; a folder that cannot be
written costs the report, never the call."""

import asyncio
import json
import logging
import os
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from parley.config import ReportsConfig
from parley.core.events import BargeIn, EarlyReply, TurnDone, TurnFailed, TurnTimings, Typed
from parley.live.report import CallReport
from parley.live.reports import Reports

USER, REPLY = "Where is the secret library?", "Behind the blue door on the third floor."


def a_report(failovers=None, written=None) -> CallReport:
    counts = failovers if failovers is not None else {"llm": 2}
    return CallReport("abcDEF123_-x", "portrait", "Ada", lambda: dict(counts), (written if written is not None else []).append)


def finished(report: CallReport, ended="hung_up") -> dict:
    stats = {"rung": "browser3d", "frames_sent": 90, "frames_skipped": 3, "audio_seconds_sent": 4.2}
    return report.finish(ended, stats, [(report._t0 + 1.5, "browser3d", "80% of video late by over 40 ms")], 7)


def test_the_report_keeps_each_turns_timings_and_outcome_and_no_words():
    failovers = {"llm": 2}
    report = a_report(failovers)
    report.observe(Typed(USER))
    report.observe(TurnDone(USER, REPLY, TurnTimings(first_audio_ms=310.0, total_ms=900.0,
                                                     extra={"asr_ms": 40.0}), grounding="quoted"))
    report.observe(TurnDone(USER, REPLY, TurnTimings(first_audio_ms=280.0, interrupted=True), grounding="answered"))
    report.observe(TurnFailed(USER, "EngineUnavailable: llm: Triton at 127.0.0.1:8001 not ready"))
    report.observe(BargeIn(at=3.0, cancel_ms=20.0, heard=REPLY))
    report.observe(EarlyReply("dropped", "the caller went on"))
    failovers["llm"] = 3  # the LLM moved to its backup once during the call
    out = finished(report)
    text = json.dumps(out)
    assert USER not in text and REPLY not in text and "secret" not in text and "blue door" not in text
    spoken, typed, failed = out["turns"]
    assert spoken["input"] == "spoken" and spoken["grounding"] == "quoted" and spoken["outcome"] == "answered"
    assert spoken["timings"]["first_audio_ms"] == 310.0 and spoken["timings"]["asr_ms"] == 40.0
    assert typed["input"] == "typed" and typed["outcome"] == "interrupted"
    assert failed["outcome"] == "failed" and "not ready" in failed["error"]
    assert out["counts"] == {"barge_ins": 1, "early_replies_dropped": 1}
    assert out["fallbacks"] == {"engines": {"llm": 1}, "face_frames": 7}
    assert out["ladder"] == {"rung": "browser3d", "changes": [{"at_s": 1.5, "rung": "browser3d",
                                                               "reason": "80% of video late by over 40 ms"}]}
    assert out["how"] == "hung_up" and out["call"] == "abcDEF123_-x" and out["persona"] == "Ada"
    assert out["video"]["frames_skipped"] == 3 and out["video"]["fps"] > 0


def test_an_ending_that_is_not_one_is_refused():
    with pytest.raises(ValueError, match="hung_up, connection_lost"):
        finished(a_report(), "vanished")


def test_end_hands_the_report_to_the_writer_off_the_loop():
    written = []
    report = a_report(written=written)
    stats = {"rung": "warp2d", "frames_sent": 0, "frames_skipped": 0, "audio_seconds_sent": 0.0}
    asyncio.run(report.end("drained", stats, [], 0))
    assert [r["how"] for r in written] == ["drained"]


def test_reports_are_written_whole_listed_read_and_pruned(tmp_path):
    reports = Reports(ReportsConfig(folder="reports", keep_days=1), tmp_path)
    assert reports.folder == tmp_path / "reports"  # relative to the stack file's folder
    old = reports.write(finished(a_report()))
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    time.sleep(0.002)  # the next report starts a millisecond later: its own name
    new = reports.write(finished(a_report()))
    assert not old.exists() and new.exists()  # past keep_days: gone when the next was written
    assert [p.name for p in reports.folder.iterdir()] == [new.name]  # no temporary file left
    assert [r["id"] for r in reports.listing()] == [new.stem]
    assert json.loads(reports.read(new.stem))["call"] == "abcDEF123_-x"
    with pytest.raises(ValueError, match="not a report id"):
        reports.read("../../etc/passwd")
    with pytest.raises(FileNotFoundError):
        reports.read("20200101T000000000Z-nobody")


def test_a_folder_that_cannot_be_written_is_counted_and_warned_of_once(tmp_path, caplog):
    (tmp_path / "a_file").write_text("not a folder")
    reports = Reports(ReportsConfig(folder=tmp_path / "a_file" / "reports"), tmp_path)
    with caplog.at_level(logging.WARNING, logger="parley.reports"):
        assert reports.write(finished(a_report())) is None
        assert reports.write(finished(a_report())) is None
    assert reports.failed == 2
    assert len([r for r in caplog.records if "cannot be written" in r.message]) == 1
    assert reports.listing() == []


def test_reports_are_off_when_disabled(tmp_path):
    reports = Reports(ReportsConfig(enabled=False, folder=tmp_path), tmp_path)
    assert reports.write(finished(a_report())) is None and reports.failed == 0 and not list(tmp_path.iterdir())


def test_the_operators_routes_refuse_without_the_token(tmp_path):
    reports = Reports(ReportsConfig(folder=tmp_path), tmp_path)
    rid = reports.write(finished(a_report())).stem
    app = web.Application()
    app.router.add_routes(reports.routes("the-operator"))
    bearer = {"Authorization": "Bearer the-operator"}

    async def main():
        async with TestClient(TestServer(app)) as client:
            out = {"no token": await client.get("/api/reports"),
                   "wrong token": await client.get("/api/reports", headers={"Authorization": "Bearer nope"}),
                   "one, no token": await client.get(f"/api/reports/{rid}"),
                   "token in the url": await client.get("/api/reports?token=the-operator"),
                   "listed": await client.get("/api/reports", headers=bearer),
                   "one": await client.get(f"/api/reports/{rid}", headers=bearer),
                   "bad id": await client.get("/api/reports/..%2Fsecrets", headers=bearer),
                   "missing": await client.get("/api/reports/20200101T000000000Z-gone", headers=bearer)}
            return {name: (r.status, await r.text()) for name, r in out.items()}

    out = asyncio.run(main())
    assert out["no token"][0] == out["wrong token"][0] == out["one, no token"][0] == 401
    assert out["token in the url"][0] == 401
    assert [r["id"] for r in json.loads(out["listed"][1])["reports"]] == [rid]
    assert json.loads(out["one"][1])["turns"] == []
    assert out["bad id"][0] == 400 and out["missing"][0] == 404


def test_no_operator_token_means_no_reports_over_http(tmp_path):
    app = web.Application()
    app.router.add_routes(Reports(ReportsConfig(folder=tmp_path), tmp_path).routes(None))

    async def main():
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/api/reports", headers={"Authorization": "Bearer anything"})
            return response.status, await response.text()

    assert asyncio.run(main()) == (403, "operator pages are off: set server.operator_token or PARLEY_OPERATOR_TOKEN")
