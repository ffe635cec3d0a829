"""The operator's page in headless Chromium, under the pages' Content-Security-Policy, with a live
aiortc caller on the server: without the token it shows only the login form and the API answers 401;
after logging in it shows the call with its rung and fps; its end-call button ends the call (the
caller's connection closes, the session is gone, the report says the operator ended it); logging out
closes it again.

PARLEY_SCREENSHOTS=DIR keeps the screenshots (login, dashboard, after the call ended), to look at.
"""

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.sync_api import sync_playwright

from parley.config import ReportsConfig
from parley.live.app import Server
from parley.live.ladder import RUNGS
from parley.live.reports import Reports
from testbed.chromium import CHROMIUM_ARGS, wait_until
from testbed.live_client import Caller

OPERATOR = "operator-page-test"


class Loop:
    """The server and the caller on an event loop of their own, beside Playwright's synchronous API."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="operator-test-loop", daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        """Let what is still running end (a call closing after its caller left), then stop the loop."""
        async def settle():
            tasks = asyncio.all_tasks() - {asyncio.current_task()}
            _, stuck = await asyncio.wait(tasks, timeout=10) if tasks else (None, ())
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)

        self.run(settle(), timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


async def until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"still not so after {timeout:g} s")
        await asyncio.sleep(0.1)


@pytest.fixture
def served(parley, monkeypatch, tmp_path):
    """The server on loopback with a caller who has asked one question and heard the answer."""
    monkeypatch.setenv("PARLEY_OPERATOR_TOKEN", OPERATOR)
    server = Server(parley)
    server.reports = Reports(ReportsConfig(folder=tmp_path / "reports"), tmp_path)
    loop = Loop()
    site = TestServer(server.app(), host="127.0.0.1")

    async def start():
        await site.start_server()
        caller = await Caller(f"http://127.0.0.1:{site.port}").connect()
        caller.type("Where is the library?")
        await caller.answered(1, timeout=120)
        return caller

    caller = None
    try:
        caller = loop.run(start(), timeout=180)
        yield server, site, caller, loop, tmp_path / "reports"
    finally:
        if caller is not None:
            loop.run(caller.close())
        loop.run(site.close())
        loop.stop()


def test_the_operator_page_logs_in_shows_the_call_and_ends_it(served, tmp_path):
    server, site, caller, loop, reports = served
    base = f"http://127.0.0.1:{site.port}"
    shots = Path(os.environ.get("PARLEY_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    console: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("console", lambda message: console.append(f"{message.type}: {message.text} "
                                                                f"({message.location.get('url')})"))
            page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
            page.goto(f"{base}/operator")
            wait_until(page, "window.parleyOperator.view === 'login'", 10_000)
            assert page.is_visible("#login-form") and not page.is_visible("#dashboard")
            assert page.evaluate("fetch('/api/operator').then((r) => r.status)") == 401
            page.screenshot(path=str(shots / "operator-login.png"))

            page.fill("#token", "not the token")
            page.click("#login-form button")
            wait_until(page, "document.getElementById('login-error').textContent !== ''", 10_000)
            assert page.text_content("#login-error") == "that is not the operator token"
            assert page.evaluate("window.parleyOperator.view") == "login"

            page.fill("#token", OPERATOR)
            page.click("#login-form button")
            wait_until(page, "window.parleyOperator.view === 'dashboard' && "
                             "document.querySelectorAll('#calls tbody tr').length === 1", 10_000)
            assert "parley_operator" not in page.evaluate("document.cookie")  # HttpOnly: no script reads it
            row = page.evaluate("[...document.querySelectorAll('#calls tbody tr td')].map((td) => td.textContent)")
            data = page.evaluate("window.parleyOperator.data")
            # The rung is the ladder's: a machine behind on frames may have stepped down to the 3D head.
            assert row[0] == caller.session["session"] and row[2] == data["calls"][0]["rung"] in RUNGS
            assert float(row[3]) > 0 and "typed, answered" in row[6] and "first audio" in row[6]
            assert sum(m["turns"] for m in data["last_hour"]) == 1 and data["build"]["version"]
            assert data["models"]["llm"].startswith(server.settings.stack.llm.model)
            assert {s["stage"] for s in data["stages"]} >= {"asr", "llm", "tts", "face"}
            assert page.evaluate("document.querySelectorAll('#latency-chart circle').length") == 2  # p50, p95
            assert page.evaluate("document.querySelectorAll('#grounding-chart rect').length") == 1
            page.screenshot(path=str(shots / "operator-dashboard.png"), full_page=True)

            page.click("#calls button.end")
            wait_until(page, "window.parleyOperator.ended.length === 1", 15_000)
            loop.run(until(lambda: caller.pc.connectionState == "closed" and not server.sessions
                           and list(reports.glob("*.json")), 20))
            wait_until(page, "document.querySelectorAll('#calls tbody tr').length === 0 && "
                             "document.querySelectorAll('#reports a').length === 1", 10_000)
            report_link = page.get_attribute("#reports a", "href")
            report = json.loads(page.evaluate(f"fetch('{report_link}').then((r) => r.text())"))
            assert report["how"] == "ended_by_operator" and len(report["turns"]) == 1
            assert caller.of_type("problem")[-1]["error"] == "the operator ended this call"
            page.screenshot(path=str(shots / "operator-ended.png"), full_page=True)

            page.click("#logout")
            wait_until(page, "window.parleyOperator.view === 'login'", 10_000)
            assert page.evaluate("fetch('/api/operator').then((r) => r.status)") == 401
            assert page.evaluate("window.parleyOperator.errors") == ["login: 401"]
        finally:
            browser.close()
    # Chromium logs each 401 it was given (the page before the login, the wrong token): those are expected.
    assert not [line for line in console if "Content Security Policy" in line or line.startswith(("error", "pageerror"))
                and "401" not in line], console
