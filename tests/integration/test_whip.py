"""WHIP publishing against a WHIP endpoint that receives the media for real (aiohttp + aiortc).

No packaged WHIP server installs from the registries this project can reach (MediaMTX, Ant Media
and Meetecho's simple-whip-server ship as downloads or containers), so the endpoint here follows
RFC 9725 itself: SDP offer in, 201 with the answer and a Location, DELETE to end the stream.
"""

import asyncio
import contextlib

import aioice.ice
import pytest
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription

from parley.config import WhipTarget
from parley.face.avatars import load_avatar
from parley.face.warp import WarpFace
from parley.live.broadcast import BroadcastError, WhipPublisher
from parley.live.media import AvatarAudioTrack, AvatarVideoTrack, MediaClock

TOKEN = "s3cret"


@pytest.fixture
def loopback_ice(monkeypatch):
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


class WhipEndpoint:
    def __init__(self) -> None:
        self.peers: dict[str, RTCPeerConnection] = {}
        self.received = {"audio": 0, "video": 0}
        self.deleted: list[str] = []

    async def ingest(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.Response(status=401, text="bad token")
        if request.content_type != "application/sdp":
            return web.Response(status=415, text="send application/sdp")
        pc = RTCPeerConnection()

        @pc.on("track")
        def on_track(track):
            async def pull():
                while True:
                    await track.recv()
                    self.received[track.kind] += 1
            asyncio.ensure_future(pull())

        await pc.setRemoteDescription(RTCSessionDescription(sdp=await request.text(), type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        resource = f"stream-{len(self.peers)}"
        self.peers[resource] = pc
        return web.Response(status=201, text=pc.localDescription.sdp, content_type="application/sdp",
                            headers={"Location": f"/whip/{resource}"})

    async def end(self, request: web.Request) -> web.Response:
        resource = request.match_info["resource"]
        self.deleted.append(resource)
        await self.peers.pop(resource).close()
        return web.Response(status=200)


@contextlib.asynccontextmanager
async def serving(whip: WhipEndpoint):
    app = web.Application()
    app.router.add_post("/whip", whip.ingest)
    app.router.add_delete("/whip/{resource}", whip.end)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/whip"
    finally:
        for pc in whip.peers.values():
            await pc.close()
        await runner.cleanup()


def _tracks():
    playout = MediaClock()
    return AvatarAudioTrack(playout), AvatarVideoTrack(playout, WarpFace(load_avatar("portrait"), fps=30))


def test_the_avatar_is_published_over_whip_and_ended_with_delete(loopback_ice):
    async def scenario():
        whip = WhipEndpoint()
        async with serving(whip) as url:
            publisher = WhipPublisher(WhipTarget(url=url, token=TOKEN))
            await publisher.start(*_tracks())
            for _ in range(100):
                if whip.received["video"] > 15 and whip.received["audio"] > 50:
                    break
                await asyncio.sleep(0.1)
            await publisher.stop()
        return whip

    whip = asyncio.run(scenario())
    assert whip.received["video"] > 15 and whip.received["audio"] > 50, whip.received
    assert whip.deleted == ["stream-0"]


def test_a_refused_token_is_reported_with_the_endpoints_answer(loopback_ice):
    async def scenario():
        async with serving(WhipEndpoint()) as url:
            publisher = WhipPublisher(WhipTarget(url=url, token="wrong"))
            try:
                await publisher.start(*_tracks())
            finally:
                await publisher.stop()

    with pytest.raises(BroadcastError, match="answered 401: bad token"):
        asyncio.run(scenario())


def test_an_unreachable_endpoint_is_reported(loopback_ice):
    async def scenario():
        publisher = WhipPublisher(WhipTarget(url="http://127.0.0.1:9/whip"))
        try:
            await publisher.start(*_tracks())
        finally:
            await publisher.stop()

    with pytest.raises(BroadcastError, match="cannot reach the WHIP endpoint"):
        asyncio.run(scenario())
