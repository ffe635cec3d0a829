"""Drives one live session end to end: `parley serve` and Debian's Chromium (fake microphone fed
from a WAV file), both in the caller's network namespace. Writes what it saw as JSON.

    python -m tests.e2e.live_driver --config STACK.yaml --wav QUESTION.wav --text "..." --out RESULT.json

Run by tests/e2e/test_live.py inside `unshare -n` (only loopback exists there), so every packet,
WebRTC included, stays on 127.0.0.1.
"""

import argparse
import json
import subprocess
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from parley.face.avatars import load_avatar
from parley.face.warp import WarpFace
from testbed.chromium import chromium_args, wait_until
from testbed.serve import start_serve
from tests.e2e.media_servers import start_janus, start_nginx

# Runs in the page: samples the avatar <video> for `ms`, returning the mean luma of the mouth box
# per frame and the decoded frame count.
SAMPLE_MOUTH = """async ([box, ms]) => {
  const video = document.getElementById('avatar');
  const canvas = new OffscreenCanvas(512, 512);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const [x0, y0, x1, y1] = box;
  const lumas = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (video.readyState < 2) {  // no frame decoded yet
      await new Promise((r) => setTimeout(r, 40));
      continue;
    }
    ctx.drawImage(video, 0, 0, 512, 512);
    const d = ctx.getImageData(x0, y0, x1 - x0, y1 - y0).data;
    let sum = 0;
    for (let i = 0; i < d.length; i += 4) sum += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    lumas.push(sum / (d.length / 4));
    await new Promise((r) => setTimeout(r, 40));
  }
  return lumas;
}"""
STATS = """async (pc) => {
  const out = {};
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp') out[s.kind] = { packets: s.packetsReceived, frames: s.framesDecoded ?? null,
                                                 bytes: s.bytesReceived };
  });
  return out;
}"""


def watch_csp(page, result: dict) -> None:
    """Record what the pages' Content-Security-Policy blocks (it should block nothing of ours)."""
    page.on("console", lambda message: "Content Security Policy" in message.text
            and result.setdefault("csp_violations", []).append(message.text))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--wav", required=True)
    parser.add_argument("--text", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--broadcast", help="folder for Janus and nginx-rtmp; the config publishes to them")
    parser.add_argument("--screenshots", help="folder for screenshots of the pages, to look at")
    args = parser.parse_args()
    media = [start_janus(Path(args.broadcast)), start_nginx(Path(args.broadcast))] if args.broadcast else []
    try:
        server, port = start_serve(args.config, subprocess.PIPE)
    except RuntimeError as exc:
        for proc in media:
            proc.terminate()
        Path(args.out).write_text(json.dumps({"failure": str(exc)}))
        return
    result = {"port": port}
    try:
        box = list(WarpFace(load_avatar("portrait")).mouth_box)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=chromium_args(args.wav))
            page = browser.new_page()
            watch_csp(page, result)
            page.goto(f"http://127.0.0.1:{port}/")
            page.click("#start")
            wait_until(page, "window.parleyState.connected", 30_000)
            result["idle_mouth"] = page.evaluate(SAMPLE_MOUTH, [box, 1500])
            wait_until(page, "window.parleyState.visemeChunks > 0", 90_000)
            result["speaking_mouth"] = page.evaluate(SAMPLE_MOUTH, [box, 2500])
            if args.screenshots:
                page.screenshot(path=f"{args.screenshots}/conversation-2d.png")
            wait_until(page, "window.parleyState.turns.length >= 1", 90_000)
            result["voice_turn"] = page.evaluate("window.parleyState.turns[0]")
            result["stats"] = page.evaluate(f"({STATS})(window.parleyState.pc)")
            page.check("#camera")  # the caller's own camera, beside the avatar
            wait_until(page, "document.getElementById('self').videoWidth > 0", 20_000)
            result["camera"] = page.evaluate("""() => ({ state: window.parleyState.camera,
              width: document.getElementById('self').videoWidth,
              sent: window.parleyState.pc.getSenders().filter((s) => s.track && s.track.kind === 'video').length })""")
            if args.screenshots:
                page.screenshot(path=f"{args.screenshots}/conversation-camera.png")
            page.uncheck("#camera")
            viewer = None
            if args.broadcast:
                viewer = browser.new_context().new_page()  # a second browser profile, as another person
                watch_csp(viewer, result)
                viewer.goto(f"http://127.0.0.1:{port}" + page.evaluate("window.parleyState.viewerUrl"))
                wait_until(viewer, "window.parleyWatch.connected || window.parleyWatch.error", 30_000)
                result["viewer_via"] = viewer.evaluate("window.parleyWatch.via")
                result["viewer_error"] = viewer.evaluate("window.parleyWatch.error")
            chunks = page.evaluate("window.parleyState.visemeChunks")
            page.check("input[value=text]")
            page.fill("#text", args.text)
            page.click("#typed button")
            if viewer is not None:
                wait_until(page, f"window.parleyState.visemeChunks > {chunks}", 90_000)
                result["viewer_mouth"] = viewer.evaluate(SAMPLE_MOUTH, [box, 2500])
                result["viewer_stats"] = viewer.evaluate(f"({STATS})(window.parleyWatch.pc)")
                hls = browser.new_context().new_page()
                watch_csp(hls, result)
                hls.goto(f"http://127.0.0.1:{port}" + page.evaluate("window.parleyState.viewerUrl") + "&via=hls")
                wait_until(hls, "window.parleyWatch.connected || window.parleyWatch.error", 45_000)
                result["hls_via"] = hls.evaluate("window.parleyWatch.via")
                result["hls_error"] = hls.evaluate("window.parleyWatch.error")
                result["hls_time"] = hls.evaluate(
                    "new Promise((r) => setTimeout(() => r(document.getElementById('avatar').currentTime), 2000))")
            wait_until(page, "window.parleyState.turns.length >= 2", 90_000)
            result["text_turn"] = page.evaluate("window.parleyState.turns[1]")
            result["captions"] = page.evaluate("window.parleyState.captions")
            result["errors"] = page.evaluate("window.parleyState.errors")
            result["health"] = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz").read())
            result["rung_2d"] = page.evaluate("window.parleyState.rung")
            # The 3D view: the page draws the head from viseme events; the server stops rendering video.
            page.check("input[value='3d']")
            chunks = page.evaluate("window.parleyState.visemeChunks")
            page.fill("#text", "What is in the library?")
            page.click("#typed button")
            wait_until(page, f"window.parleyState.visemeChunks > {chunks}", 90_000)
            page.wait_for_timeout(2500)
            if args.screenshots:
                page.screenshot(path=f"{args.screenshots}/conversation-3d.png")
                if viewer is not None:
                    viewer.screenshot(path=f"{args.screenshots}/viewer.png")
            result["view_3d"] = page.evaluate("""() => ({ frames: window.parleyState.frames3d,
                mouth: window.parleyState.mouth3d.slice(-120), rung: window.parleyState.rung,
                canvas: !document.getElementById('head').hidden, video: !document.getElementById('avatar').hidden })""")
            wait_until(page, "window.parleyState.turns.length >= 3", 90_000)
            if args.broadcast:  # the media server dies mid-session: the conversation goes on
                media[0].terminate()
                media[0].wait(10)
                page.fill("#text", "Is the library open today?")
                page.click("#typed button")
                wait_until(page, "window.parleyState.turns.length >= 4", 90_000)
                result["after_janus_died"] = page.evaluate("window.parleyState.turns[3]")
                token = page.evaluate("window.parleyState.viewerUrl").split("token=")[1]
                request = urllib.request.Request(f"http://127.0.0.1:{port}/api/watch", method="POST",
                                                 data=json.dumps({"token": token}).encode(),
                                                 headers={"Content-Type": "application/json"})
                result["watch_after_janus_died"] = json.loads(urllib.request.urlopen(request, timeout=30).read())
            # The caller goes away mid-conversation: the server must drop the session and carry on.
            page.fill("#text", "Tell me about every building on campus.")
            page.click("#typed button")
            wait_until(page, "window.parleyState.visemeChunks > 1", 60_000)
            page.close()
            deadline = time.time() + 30
            while time.time() < deadline:
                health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz").read())
                if health["sessions"] == 0:
                    break
                time.sleep(0.5)
            result["sessions_after_close"] = health["sessions"]
            browser.close()
    except Exception as exc:
        result["failure"] = f"{type(exc).__name__}: {exc}"
    finally:
        for proc in media:
            proc.terminate()
        server.terminate()
        try:
            result["server_log"] = server.communicate(timeout=15)[0][-4000:]
        except subprocess.TimeoutExpired:
            server.kill()
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
