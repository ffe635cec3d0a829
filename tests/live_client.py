"""A caller made of aiortc, for the load and fault tests and the soak and capacity benchmarks.

It does what the page does (POST /api/sessions, an offer with the microphone and a receive-only
video, the ``parley`` data channel, typed text) and keeps every event the server sends, the video
frames it decodes and the audio it hears. It offers only loopback ICE candidates and no STUN.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

# This process's peers gather host candidates on loopback only (the server is told the same).
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []


class Refused(Exception):
    def __init__(self, status: int, text: str, retry_after: str | None) -> None:
        super().__init__(f"{status}: {text}")
        self.status, self.text, self.retry_after = status, text, retry_after


class Caller:
    def __init__(self, base: str, video: bool = True) -> None:
        self.base = base
        self.video = video
        self.events: list[dict] = []
        self.frames = 0  # video frames decoded
        self.audio_frames = 0
        self.pc: RTCPeerConnection | None = None
        self.channel = None
        self.session: dict = {}
        self._new_event = asyncio.Event()
        self._readers: list[asyncio.Task] = []

    async def connect(self, timeout: float = 30) -> "Caller":
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.base}/api/sessions") as response:
                if response.status != 200:
                    raise Refused(response.status, await response.text(), response.headers.get("Retry-After"))
                self.session = await response.json()
            self.pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pc.addTrack(AudioStreamTrack())  # a microphone that hears silence
            if self.video:
                pc.addTransceiver("video", direction="recvonly")
            self.channel = pc.createDataChannel("parley")
            self.channel.on("message", self._on_message)
            pc.on("track", lambda track: self._readers.append(asyncio.ensure_future(self._read(track))))
            await pc.setLocalDescription(await pc.createOffer())
            body = {"token": self.session["caller_token"], "sdp": pc.localDescription.sdp, "type": "offer"}
            async with http.post(f"{self.base}/api/offer", json=body) as response:
                if response.status != 200:
                    await pc.close()
                    raise Refused(response.status, await response.text(), response.headers.get("Retry-After"))
                answer = await response.json()
        await pc.setRemoteDescription(RTCSessionDescription(**answer))
        await self.wait_until(lambda: self.channel.readyState == "open", timeout)
        return self

    def _on_message(self, message) -> None:
        self.events.append(json.loads(message))
        self._new_event.set()

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
