"""The caller's page asks before a call is recorded, in headless Chromium under the pages'
Content-Security-Policy, against `parley serve` with recording on: nothing is offered before the
caller answers; a yes is sent with the offer, the page says the call is recorded and the call is
recorded; a no is sent too, and that call, answered all the same, is not recorded. The operator's
page lists the recording, with its files downloadable, after its login only.

PARLEY_SCREENSHOTS=DIR keeps the screenshots (the question, the recorded call, the operator's list),
to look at.
"""

import json
import os
import time
import wave
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

from testbed.chromium import chromium_args, wait_until
from testbed.live_client import OPERATOR, serving

QUESTION = "Where is the library?"


def quiet_wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(np.zeros(16000 * 60, np.int16).tobytes())
    return path


def a_call(browser, base: str, agree: bool, shots: Path | None) -> dict:
    """A caller opens the page, starts, answers the question, types one and leaves once answered;
    what the page sent with its offer and showed."""
    page = browser.new_page(viewport={"width": 1100, "height": 720})
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    offers: list[dict] = []
    page.on("request", lambda request: request.url.endswith("/api/offer")
            and offers.append(json.loads(request.post_data)))
    try:
        page.goto(base)
        page.click("#start")
        wait_until(page, "!document.getElementById('consent').hidden", 15_000)
        text = page.text_content("#consent")
        time.sleep(0.5)  # a caller who reads it: still nothing offered meanwhile
        offered_before = len(offers)
        if shots is not None:
            page.screenshot(path=str(shots / "consent-question.png"))
        page.click("#consent-yes" if agree else "#consent-no")
        wait_until(page, "window.parleyState.connected", 60_000)
        page.fill("#text", QUESTION)
        page.click("#typed button")
        wait_until(page, "window.parleyState.turns.length >= 1", 120_000)
        shown = {"recorded": page.is_visible("#recorded"), "consent": page.is_visible("#consent")}
        if shots is not None:
            page.screenshot(path=str(shots / "consent-recorded.png"))
        return {"text": text, "offered_before": offered_before, "offers": offers, **shown,
                "csp": [m for m in console if "Content Security Policy" in m]}
    finally:
        page.close()


def operator_sees(browser, base: str, shots: Path) -> dict:
    """The operator's page before and after logging in: what its API answers, the recordings listed and
    what their links download."""
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    try:
        page.goto(f"{base}/operator")
        wait_until(page, "window.parleyOperator.view === 'login'", 10_000)
        out = {"before": page.evaluate("fetch('/api/recordings').then((r) => r.status)")}
        page.fill("#token", OPERATOR)
        page.click("#login-form button")
        wait_until(page, "document.querySelectorAll('#recordings li').length === 1", 10_000)
        out["listed"] = page.evaluate("[...document.querySelectorAll('#recordings li')]"
                                      ".map((li) => li.dataset.recording)")
        links = page.evaluate("[...document.querySelectorAll('#recordings li a')].map((a) => a.getAttribute('href'))")
        out["links"] = links
        out["downloads"] = [page.evaluate("""(url) => fetch(url).then(async (r) =>
            [r.status, r.headers.get('Content-Type'), (await r.arrayBuffer()).byteLength])""", link) for link in links]
        page.screenshot(path=str(shots / "operator-recordings.png"), full_page=True)
        return out
    finally:
        page.close()


def recordings(served) -> list[dict]:
    return served.get("/api/recordings", operator=True)["recordings"]


def until(condition, timeout: float):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "still not so"
        time.sleep(0.2)
    return value


def test_the_page_asks_before_recording_and_only_a_yes_is_recorded(tmp_path):
    shots = Path(os.environ.get("PARLEY_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    stack = {"recording.enabled": True, "recording.folder": str(tmp_path / "recordings"), "recording.keep_days": 7}
    with serving(tmp_path, stack) as served, sync_playwright() as p:
        microphone = quiet_wav(tmp_path / "quiet.wav")
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=chromium_args(microphone))
        try:
            yes = a_call(browser, served.base, True, shots)
            (recorded,) = until(lambda: recordings(served), 30)
            no = a_call(browser, served.base, False, None)
            until(lambda: not served.get("/api/stats", operator=True)["sessions"], 30)
            operator = operator_sees(browser, served.base, shots)
        finally:
            browser.close()
        assert [r["id"] for r in recordings(served)] == [recorded["id"]]  # the call that said no left none
        transcript = served.get(f"/api/recordings/{recorded['id']}", operator=True)
    assert "kept for 7 days" in yes["text"] and "Record this call" in yes["text"]
    assert yes["offered_before"] == 0 and no["offered_before"] == 0
    assert [o["record"] for o in yes["offers"]] == [True] and [o["record"] for o in no["offers"]] == [False]
    assert yes["recorded"] and not no["recorded"] and not yes["consent"] and not no["consent"]
    assert yes["csp"] == [] and no["csp"] == []
    assert [t["user"] for t in transcript["turns"]] == [QUESTION]
    rid = recorded["id"]
    assert operator["before"] == 401 and operator["listed"] == [rid]
    base = f"/api/recordings/{rid}"
    assert operator["links"] == [f"{base}/media", f"{base}/captions", base]
    (video, captions, transcript) = operator["downloads"]
    assert video[:2] == [200, "video/webm"] and video[2] > 10_000
    assert captions[:2] == [200, "text/vtt"] and transcript[:2] == [200, "application/json"]
