"""Publishing one live session's avatar to viewers: Janus VideoRoom, WHIP, and RTMP (for HLS).

Each target gets its own copy of the avatar's audio and video from a ``MediaRelay``, so a slow
target drops frames instead of holding back the caller. A target that fails is logged and left
out; the conversation itself never depends on a broadcast.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Protocol
from urllib.parse import urljoin

import aiohttp
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from parley.config import BroadcastConfig, JanusTarget, RtmpTarget, WhipTarget
from parley.core.errors import ParleyError
from parley.live.broadcast.janus import JanusError, JanusHandle, JanusSession
from parley.live.broadcast.rtmp import RtmpPush

log = logging.getLogger("parley.broadcast")
VIDEOROOM = "janus.plugin.videoroom"


class BroadcastError(ParleyError):
    """A broadcast target refused the stream or a viewer's request."""


class Target(Protocol):
    name: str

    async def start(self, audio: MediaStreamTrack, video: MediaStreamTrack) -> None: ...

    async def stop(self) -> None: ...


async def _sending_peer(audio: MediaStreamTrack, video: MediaStreamTrack,
                        ice: RTCConfiguration | None) -> RTCPeerConnection:
    """A peer that only sends, with its offer made and every ICE candidate gathered (no trickle)."""
    pc = RTCPeerConnection(ice)
    for track in (audio, video):
        pc.addTransceiver(track, direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc


class JanusRoom:
    """The session's own VideoRoom: the avatar is its one publisher; each viewer subscribes."""

    name = "janus"

    def __init__(self, target: JanusTarget, session_id: str, ice: RTCConfiguration | None = None) -> None:
        self.target = target
        self.ice = ice
        self.description = f"parley {session_id}"
        self.room = secrets.randbelow(2**52)  # Janus room ids are JSON numbers: stay within 2**53
        self._janus: JanusSession | None = None
        self._publisher: JanusHandle | None = None
        self._pc: RTCPeerConnection | None = None
        self.feed: int | None = None
        self.viewers: dict[int, JanusHandle] = {}

    async def start(self, audio: MediaStreamTrack, video: MediaStreamTrack) -> None:
        self._janus = await JanusSession.create(self.target.url)
        self._publisher = publisher = await self._janus.attach(VIDEOROOM)
        await publisher.request({"request": "create", "room": self.room, "description": self.description,
                                 "publishers": 1, "is_private": True, "audiocodec": "opus", "videocodec": "vp8"})
        self._pc = await _sending_peer(audio, video, self.ice)
        data, jsep = await publisher.message(
            {"request": "joinandconfigure", "room": self.room, "ptype": "publisher", "display": "avatar"},
            {"type": "offer", "sdp": self._pc.localDescription.sdp})
        if jsep is None:
            raise BroadcastError(f"Janus accepted the publisher but sent no answer: {data}")
        self.feed = data["id"]
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type=jsep["type"]))

    async def subscribe(self) -> tuple[int, str]:
        """A new viewer: Janus's offer for it, and the id to answer with."""
        if self._janus is None or self.feed is None:
            raise BroadcastError("the broadcast has not started yet; try again in a moment")
        if len(self.viewers) >= self.target.max_viewers:
            raise BroadcastError(f"this broadcast already has {self.target.max_viewers} viewers "
                                 "(broadcast.janus.max_viewers)")
        handle: JanusHandle | None = None

        def on_notice(event: dict) -> None:
            if event.get("janus") == "hangup" and handle is not None:  # the viewer's peer went away
                asyncio.ensure_future(self._drop(handle.id))

        handle = await self._janus.attach(VIDEOROOM, on_notice)
        try:
            _, jsep = await handle.message({"request": "join", "ptype": "subscriber", "room": self.room,
                                            "streams": [{"feed": self.feed}]})
        except BaseException:
            await handle.detach()
            raise
        self.viewers[handle.id] = handle
        return handle.id, jsep["sdp"]

    async def answer(self, viewer: int, sdp: str) -> None:
        handle = self.viewers.get(viewer)
        if handle is None:
            raise BroadcastError(f"no pending viewer {viewer}; ask for a new offer")
        await handle.message({"request": "start", "room": self.room}, {"type": "answer", "sdp": sdp})

    async def _drop(self, viewer: int) -> None:
        handle = self.viewers.pop(viewer, None)
        if handle is not None:
            await handle.detach()

    async def stop(self) -> None:
        if self._pc is not None:
            await self._pc.close()
        if self._janus is None:
            return
        for viewer in list(self.viewers):
            await self._drop(viewer)
        if self._publisher is not None:
            try:
                await self._publisher.request({"request": "destroy", "room": self.room})
            except JanusError as exc:
                log.info("Janus room %s: %s", self.room, exc)
        await self._janus.close()


class WhipPublisher:
    """WHIP (RFC 9725): POST the offer, get the answer and a resource URL; DELETE it to stop."""

    name = "whip"

    def __init__(self, target: WhipTarget, ice: RTCConfiguration | None = None) -> None:
        self.target = target
        self.ice = ice
        self._pc: RTCPeerConnection | None = None
        self._resource: str | None = None

    def _headers(self, **extra: str) -> dict[str, str]:
        if self.target.token:
            extra["Authorization"] = f"Bearer {self.target.token}"
        return extra

    async def start(self, audio: MediaStreamTrack, video: MediaStreamTrack) -> None:
        self._pc = await _sending_peer(audio, video, self.ice)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            try:
                async with http.post(self.target.url, data=self._pc.localDescription.sdp,
                                     headers=self._headers(**{"Content-Type": "application/sdp"})) as response:
                    body = await response.text()
                    if response.status != 201:
                        raise BroadcastError(f"WHIP endpoint {self.target.url} answered {response.status}: "
                                             f"{body[:200]}")
                    location = response.headers.get("Location")
            except aiohttp.ClientError as exc:
                raise BroadcastError(f"cannot reach the WHIP endpoint {self.target.url}: {exc}") from exc
        if not location:
            raise BroadcastError(f"WHIP endpoint {self.target.url} sent no Location for the stream")
        self._resource = urljoin(self.target.url, location)
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))

    async def stop(self) -> None:
        if self._resource is not None:
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
                    await http.delete(self._resource, headers=self._headers())
            except aiohttp.ClientError as exc:
                log.info("WHIP: could not end %s: %s", self._resource, exc)
        if self._pc is not None:
            await self._pc.close()


class Broadcast:
    """Every configured target for one session, fed from the session's relay."""

    def __init__(self, config: BroadcastConfig, session_id: str, fps: float,
                 ice: RTCConfiguration | None = None) -> None:
        self.janus = JanusRoom(config.janus, session_id, ice) if config.janus else None
        self.rtmp: RtmpTarget | None = config.rtmp
        self.session_id = session_id
        # The HLS stream's name: unguessable, so only a viewer link (which returns it) finds it.
        self.stream_key = secrets.token_urlsafe(18)
        targets: list[Target] = []
        if self.janus is not None:
            targets.append(self.janus)
        if config.whip is not None:
            targets.append(WhipPublisher(config.whip, ice))
        if config.rtmp is not None:
            targets.append(RtmpPush(f"{config.rtmp.url}/{self.stream_key}", config.rtmp.video_kbps, fps))
        self.targets = targets
        self.live: list[str] = []
        self.failed: dict[str, str] = {}

    def __bool__(self) -> bool:
        return bool(self.targets)

    async def start(self, tracks) -> None:
        """``tracks()`` gives a fresh (audio, video) pair from the relay for each target."""
        async def one(target: Target) -> None:
            try:
                await target.start(*tracks())
                self.live.append(target.name)
                log.info("session %s: broadcasting to %s", self.session_id, target.name)
            except (ParleyError, OSError, ValueError, asyncio.TimeoutError) as exc:  # ValueError: bad SDP
                self.failed[target.name] = str(exc)
                log.warning("session %s: broadcast to %s failed: %s", self.session_id, target.name, exc)
                await target.stop()

        await asyncio.gather(*(one(t) for t in self.targets))

    def hls_url(self) -> str | None:
        if self.rtmp is None or self.rtmp.hls_url is None or "rtmp" not in self.live:
            return None
        return f"{self.rtmp.hls_url}/{self.stream_key}.m3u8"

    def stats(self) -> dict:
        return {"live": self.live, "failed": self.failed,
                "viewers": len(self.janus.viewers) if self.janus is not None else 0}

    async def stop(self) -> None:
        await asyncio.gather(*(t.stop() for t in self.targets), return_exceptions=True)
