"""Debian's headless Chromium, as the tests and benchmarks launch it through Playwright."""

from __future__ import annotations

import time

# For WebGL pages (the 3D head): SwiftShader draws where there is no GPU.
CHROMIUM_ARGS = ["--no-sandbox", "--enable-unsafe-swiftshader", "--use-angle=swiftshader", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]

# Run in the 3D page (web/avatar3d.html): the mean ms it takes to pose the head and draw a frame.
POSED_FRAME_MS = """() => {
  const names = ['viseme_aa', 'viseme_O', 'viseme_E', 'viseme_PP', 'viseme_U'];
  const canvas = document.getElementById('stage');
  const run = (n) => { for (let i = 0; i < n; i++) window.parley.pose({[names[i % 5]]: (i % 10) / 10}); };
  run(10); canvas.toDataURL();
  const t0 = performance.now(); run(120); canvas.toDataURL();
  return (performance.now() - t0) / 120;
}"""


def chromium_args(wav) -> list[str]:
    """Headless Chromium as root, offline, with a fake microphone playing ``wav`` once."""
    return ["--no-sandbox", "--no-first-run", "--disable-background-networking", "--disable-sync",
            "--disable-component-update", "--autoplay-policy=no-user-gesture-required",
            "--allow-loopback-in-peer-connection", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}%noloop"]


def wait_until(page, expression: str, timeout_ms: int) -> None:
    """Poll ``expression`` in the page until it is true. (Playwright's wait_for_function evaluates a
    string inside the page, which the pages' Content-Security-Policy rightly forbids.)"""
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{expression!r} still false after {timeout_ms / 1000:g} s")
        time.sleep(0.1)
