"""A real `parley serve` on loopback, and callers made of aiortc, for the load and fault tests and
the soak and capacity benchmarks.

A caller does what the page does (POST /api/sessions, an offer with the microphone and a receive-only
video, the ``parley`` data channel, typed text) and keeps every event the server sends, the video
frames it decodes and the audio it hears. It offers only loopback ICE candidates and no STUN.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import aioice.ice
import psutil
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

from parley.config import REPO_CONFIGS
from testbed.serve import start_serve, write_stack

# This process's peers gather host candidates on loopback only (the server is told the same).
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []
OPERATOR = "load-test-operator"


class Served:
    def __init__(self, process: subprocess.Popen, port: int, log_path) -> None:
        self.process = process
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.ps = psutil.Process(process.pid)

    def get(self, path: str, operator: bool = False) -> dict:
        headers = {"Authorization": f"Bearer {OPERATOR}"} if operator else {}
        request = urllib.request.Request(self.base + path, headers=headers)
        return json.loads(urllib.request.urlopen(request, timeout=10).read())

    def log(self) -> str:
        return self.log_path.read_text()


@contextmanager
def serving(tmp_path, stack: dict | None = None, base: Path = REPO_CONFIGS / "cpu.yaml", **server):
    """`parley serve` on the ``base`` stack (with ``stack`` edits, dotted keys) and ``server`` settings."""
    # A short drain: stopping the server ends within it even if a test left a call open.
    settings = {"server.ice_addresses": ["127.0.0.1"], "server.operator_token": OPERATOR,
                "server.calls_per_minute": 600, "server.drain_s": 10, **{f"server.{k}": v for k, v in server.items()}}
    config = write_stack(tmp_path, base, **(stack or {}), **settings)
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        process, port = start_serve(config, log)
        try:
            yield Served(process, port, log_path)
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()


class Refused(Exception):
    def __init__(self, status: int, text: str, retry_after: str | None) -> None:
        super().__init__(f"{status}: {text}")
        self.status, self.text, self.retry_after = status, text, retry_after


class Caller:
    def __init__(self, base: str, video: bool = True, microphone: Path | None = None,
                 record: bool | None = None) -> None:
        self.base = base
        self.video = video
        self.record = record  # the caller's answer to "record this call?"; None: not asked (as an old page)
        self.microphone = microphone  # an audio file the caller says, in real time; None: silence
        self.events: list[dict] = []
        self.frames = 0  # video frames decoded
        self.audio_frames = 0
        self.pc: RTCPeerConnection | None = None
        self.channel = None
        self.session: dict = {}
        self.node: str | None = None  # the orchestrator a proxy said holds the call
        self._new_event = asyncio.Event()
        self._readers: list[asyncio.Task] = []

    async def connect(self, timeout: float = 30) -> "Caller":
        # Keep the proxy's cookie between the two requests (for an IP address too), and accept a
        # proxy's self-signed certificate.
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar, connector=aiohttp.TCPConnector(ssl=False)) as http:
            async with http.post(f"{self.base}/api/sessions") as response:
                if response.status != 200:
                    raise Refused(response.status, await response.text(), response.headers.get("Retry-After"))
                self.session = await response.json()
            self.pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pc.addTrack(MediaPlayer(str(self.microphone)).audio if self.microphone else AudioStreamTrack())
            if self.video:
                pc.addTransceiver("video", direction="recvonly")
            self.channel = pc.createDataChannel("parley")
            self.channel.on("message", self._on_message)
            pc.on("track", lambda track: self._readers.append(asyncio.ensure_future(self._read(track))))
            await pc.setLocalDescription(await pc.createOffer())
            body = {"token": self.session["caller_token"], "sdp": pc.localDescription.sdp, "type": "offer"}
            if self.record is not None:
                body["record"] = self.record
            async with http.post(f"{self.base}/api/offer", json=body) as response:
                if response.status != 200:
                    await pc.close()
                    raise Refused(response.status, await response.text(), response.headers.get("Retry-After"))
                answer = await response.json()
            self.node = next((c.value for c in jar if c.key == "parley_node"), None)
        await pc.setRemoteDescription(RTCSessionDescription(**answer))
        await self.wait_until(lambda: self.channel.readyState == "open", timeout)
        return self

    def _on_message(self, message) -> None:
        event = json.loads(message)
        event["received_at"] = time.monotonic()
        self.events.append(event)
        self._new_event.set()

    def first_at(self, skip: int, kind: str = "chunk_playing") -> float:
        """When the first ``kind`` event after the first ``skip`` of them arrived (monotonic clock)."""
        return self.of_type(kind)[skip]["received_at"]

    async def _read(self, track) -> None:
        try:
            while True:
                await track.recv()
                if track.kind == "video":
                    self.frames += 1
                else:
                    self.audio_frames += 1
        except MediaStreamError:
            pass

    def send(self, message: str | bytes) -> None:
        self.channel.send(message)

    def type(self, text: str) -> None:
        self.send(json.dumps({"type": "text", "text": text}))

    def of_type(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["type"] == kind]

    async def wait_until(self, condition, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"gave up after {timeout:g} s; events: {[e['type'] for e in self.events][-20:]}")
            self._new_event.clear()
            try:
                await asyncio.wait_for(self._new_event.wait(), min(left, 0.2))
            except asyncio.TimeoutError:
                pass

    async def answered(self, count: int = 1, timeout: float = 120) -> list[dict]:
        """Wait for ``count`` finished turns; returns them."""
        await self.wait_until(lambda: len(self.of_type("turn_done")) >= count, timeout)
        return self.of_type("turn_done")

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
