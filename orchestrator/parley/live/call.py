"""One caller's live call: a WebRTC peer, the voice loop, and the avatar's media.

    mic track ─► 16 kHz ─► echo guard ─► VoiceSession (VAD, ASR, LLM, TTS) ─► MediaClock ─► audio + video tracks
                                             │                                 │             │  (relay)
    data channel ◄── captions, timings, barge-in, visemes as each chunk starts ┘             ├─► caller
                 ◄── the face's rung (ladder, fed by the tracks' lateness)                    └─► broadcast
    data channel ──► typed text (VoiceSession), the caller's 2D/3D view (ladder)
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError

from parley.events import ChunkPlaying, Event, FaceChanged, Problem
from parley.hear.audio import Resampler
from parley.hear.echo import EchoGuard
from parley.interfaces import Face
from parley.live.broadcast import Broadcast
from parley.live.ladder import Ladder
from parley.live.media import RATE, AvatarAudioTrack, AvatarVideoTrack, MediaClock
from parley.reply.voice_session import VoiceSession
from parley.speak.speech import SpokenChunk

log = logging.getLogger("parley.session")
MIC_TIMEOUT_S = 10.0
VIEWS = {"2d": "warp2d", "3d": "browser3d"}  # the caller's view → the best rung the ladder may use


class Call:
    def __init__(self, session_id: str, voice: VoiceSession, clock: MediaClock, face: Face,
                 broadcast: Broadcast, ladder: Ladder, echo: EchoGuard | None = None) -> None:
        self.id = session_id
        self.voice = voice  # feeds ``clock``: it is the voice session's SpeechOutput
        self.clock = clock
        clock.on_chunk_start = self._chunk_started
        self.ladder = ladder
        self.audio = AvatarAudioTrack(self.clock, on_late=lambda ms: self._lateness("audio", ms))
        # Viewers still get the portrait while the caller watches the 3D head, unless the machine is behind.
        self.video = AvatarVideoTrack(self.clock, face, on_late=lambda ms: self._lateness("video", ms),
                                      rendering=lambda: ladder.rung == "warp2d" or (
                                          bool(broadcast.live) and not ladder.degraded))
        # Caller and broadcast targets each get their own copy of the tracks; a slow one drops
        # frames on its own copy only.
        self.relay = MediaRelay()
        self.broadcast = broadcast
        self.echo = echo  # fed by ``clock`` with what was sent
        self.pc = RTCPeerConnection()
        self.channel = None
        self._mic: asyncio.Queue = asyncio.Queue(maxsize=500)  # 10 s of 20 ms frames at most
        self._tasks: list[asyncio.Task] = []
        self.closed = asyncio.Event()

    async def answer(self, sdp: str, kind: str) -> RTCSessionDescription:
        pc = self.pc

        @pc.on("track")
        def on_track(track):
            if track.kind == "audio":
                self._tasks.append(asyncio.ensure_future(self._pump_mic(track)))

        @pc.on("datachannel")
        def on_datachannel(channel):
            self.channel = channel

            def announce() -> None:
                self.send(FaceChanged(self.ladder.rung, "start"))

            if channel.readyState == "open":
                announce()
            else:
                channel.on("open", announce)

            @channel.on("message")
            def on_message(message):
                try:
                    data = json.loads(message)
                except (TypeError, ValueError):
                    return self.send(Problem("messages are JSON objects"))
                if not isinstance(data, dict):
                    return self.send(Problem("messages are JSON objects"))
                if data.get("type") == "text" and isinstance(data.get("text"), str):
                    self._tasks.append(asyncio.ensure_future(self.voice.typed(data["text"][:2000])))
                elif data.get("type") == "view" and data.get("view") in VIEWS:
                    self._rung_changed(self.ladder.set_top(VIEWS[data["view"]], time.perf_counter()))
                else:
                    self.send(Problem('unknown message; send {"type": "text", "text": ...} '
                                      'or {"type": "view", "view": "2d" | "3d"}'))

        @pc.on("connectionstatechange")
        async def on_state():
            if pc.connectionState in ("failed", "closed"):
                await self.close()

        pc.addTrack(self._relayed(self.audio))
        pc.addTrack(self._relayed(self.video))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
        await pc.setLocalDescription(await pc.createAnswer())
        self._tasks.append(asyncio.ensure_future(self._run()))
        if self.broadcast:
            self._tasks.append(asyncio.ensure_future(
                self.broadcast.start(lambda: (self._relayed(self.audio), self._relayed(self.video)))))
        return pc.localDescription

    def _relayed(self, track):
        return self.relay.subscribe(track, buffered=False)

    def send(self, event: Event) -> None:
        if self.channel is not None and self.channel.readyState == "open":
            self.channel.send(json.dumps(event.wire()))

    async def _pump_mic(self, track) -> None:
        resampler = Resampler()
        while True:
            try:
                # A browser sends audio (silence included) all the time: none for a while means it
                # is gone without saying so (crashed, network lost).
                frame = await asyncio.wait_for(track.recv(), MIC_TIMEOUT_S)
            except (MediaStreamError, asyncio.TimeoutError):
                asyncio.ensure_future(self.close())
                break
            pcm = resampler.convert(frame)
            self._offer_mic(self.echo.filter(pcm) if self.echo is not None else pcm)
        self._offer_mic(None)

    def _offer_mic(self, pcm) -> None:
        if self._mic.full():  # the stages fell 10 s behind: drop the oldest, never block the network
            self._mic.get_nowait()
        self._mic.put_nowait(pcm)

    async def _frames(self):
        while (frame := await self._mic.get()) is not None:
            yield frame

    async def _run(self) -> None:
        try:
            async for event in self.voice.run(self._frames()):
                if not isinstance(event, SpokenChunk):  # the media carries those
                    self.send(event)
        except Exception:
            log.exception("session %s failed", self.id)
            self.send(Problem("the session failed; reconnect"))

    def _chunk_started(self, chunk: SpokenChunk) -> None:
        self.send(ChunkPlaying(chunk.speech.text, chunk.visemes))

    def _lateness(self, kind: str, late_ms: float) -> None:
        self._rung_changed(self.ladder.observe(kind, late_ms, time.perf_counter()))

    def _rung_changed(self, rung: str | None) -> None:
        if rung is not None:
            reason = self.ladder.changes[-1][2]
            log.info("session %s: face now %s (%s)", self.id, rung, reason)
            self.send(FaceChanged(rung, reason))

    def stats(self) -> dict:
        return {"frames_sent": self.video.frames_sent, "frames_skipped": self.video.frames_skipped,
                "audio_seconds_sent": self.clock.samples_sent / RATE, "broadcast": self.broadcast.stats(),
                "rung": self.ladder.rung, "rung_changes": len(self.ladder.changes),
                "echo_frames_silenced": self.echo.frames_silenced if self.echo is not None else 0}

    async def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self._offer_mic(None)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.broadcast.stop()
        await self.pc.close()
