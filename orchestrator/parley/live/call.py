"""One caller's live call: a WebRTC peer, the voice loop, and the avatar's media.

    mic track ─► 16 kHz ─► echo guard ─► VoiceSession (VAD, ASR, LLM, TTS) ─► MediaClock ─► audio + video tracks
                                             │                                 │             │  (relay)
    data channel ◄── every event in its wire form; ChunkPlaying as each chunk starts            ├─► caller
                 ◄── the face's rung (ladder, fed by the tracks' lateness)                    └─► broadcast
    data channel ──► typed text (VoiceSession), the caller's 2D/3D view (ladder)

Everything a call starts (tasks, tracks, relay, broadcast, peer) is stopped by ``close``, which then
hands the call's report (``live/report.py``, fed with the events read here) to be written. A call
whose caller agreed to be recorded hands its recorder (``live/recording.py``) what it already has: the
microphone as decoded, the avatar's audio and video as sent, the captions and the finished turns.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError

from parley.core.audio import Resampler
from parley.core.events import ChunkPlaying, EarlyReply, Event, FaceChanged, Problem, TurnDone, TurnFailed
from parley.core.interfaces import Face, SpeechOutput
from parley.core.speech import SpokenChunk
from parley.core.threads import StageExecutor
from parley.face.fallback import FallbackFace
from parley.hear.echo import EchoGuard
from parley.live.broadcast import Broadcast
from parley.live.ladder import Ladder
from parley.live.media import RATE, AvatarAudioTrack, AvatarVideoTrack, MediaClock
from parley.live.offer import Offer
from parley.live.recording import CallRecorder
from parley.live.report import CallReport
from parley.session.voice import VoiceSession

log = logging.getLogger("parley.session")
MIC_TIMEOUT_S = 10.0
VIDEO_RUNGS = ("lipsync", "warp2d")  # the rungs where the server renders the face
CLOSE_TIMEOUT_S = 5.0
MAX_MESSAGE_CHARS = 4000  # a typed question, with room to spare
TYPED_BURST, TYPED_PER_S = 5, 1.0  # typed messages: a burst of five, then one a second


def ice_configuration(servers: list[str]) -> RTCConfiguration:
    """No STUN or TURN unless configured: a server meant to run offline looks nothing up."""
    return RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in servers])


class Call:
    """Everything of one call, wired here and only here: the media clock (the voice session's output),
    the voice session on it, the avatar's audio and video tracks on the clock, the echo guard fed by
    the clock, and the ladder that picks the face, told of the tracks' lateness."""

    def __init__(self, session_id: str, voice: Callable[[SpeechOutput], VoiceSession], faces: dict[str, Face],
                 ladder: Ladder, broadcast: Broadcast, ice: RTCConfiguration, echo: EchoGuard | None = None,
                 face_threads: StageExecutor | None = None, idle_fps: float | None = None, metrics=None,
                 mic_reorder_packets: int = 4, report: CallReport | None = None,
                 recorder: CallRecorder | None = None) -> None:
        self.id = session_id
        self.report = report
        self.recorder = recorder
        self._session_failed = False
        self.ladder = ladder
        self.metrics = metrics
        self.broadcast = broadcast
        self.echo = echo
        self.clock = MediaClock(on_sent=self._audio_sent if echo is not None or recorder is not None else None,
                                on_chunk_start=self._chunk_started)
        self.voice = voice(self.clock)
        # The face each video rung draws with (lipsync: the network, falling back to the warp frame by
        # frame; warp2d: the warp); the other rungs keep the last one for viewers.
        self.faces = {rung: FallbackFace(face, faces["warp2d"]) if rung == "lipsync" else face
                      for rung, face in faces.items()}
        self.audio = AvatarAudioTrack(self.clock, on_late=self._audio_late)
        self.video = AvatarVideoTrack(self.clock, self.faces[ladder.rung], on_late=self._video_late,
                                      rendering=self._rendering, executor=face_threads, idle_fps=idle_fps,
                                      on_frame=recorder.video if recorder is not None else None)
        self.mic_reorder_packets = mic_reorder_packets
        # Caller and broadcast targets each get their own copy of the tracks; a slow one drops
        # frames on its own copy only.
        self.relay = MediaRelay()
        self.pc = RTCPeerConnection(ice)
        self.channel = None
        self._mic: asyncio.Queue = asyncio.Queue(maxsize=500)  # 10 s of 20 ms frames at most
        self._tasks: set[asyncio.Task] = set()
        self._typed = (float(TYPED_BURST), time.monotonic())  # a token bucket
        self.connected = asyncio.Event()
        self.closed = asyncio.Event()

    def _rendering(self) -> bool:
        """Whether the server draws the face: on its video rungs, and for viewers while the caller
        watches the 3D head, unless the machine is behind."""
        return self.ladder.rung in VIDEO_RUNGS or (bool(self.broadcast.live) and not self.ladder.degraded)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def answer(self, offer: Offer) -> RTCSessionDescription:
        pc = self.pc

        @pc.on("track")
        def on_track(track):
            if track.kind == "audio":
                self._hold_mic_packets(track)
                self._spawn(self._pump_mic(track))

        @pc.on("datachannel")
        def on_datachannel(channel):
            self.channel = channel
            if channel.readyState == "open":
                self.send(FaceChanged(self.ladder.rung, "start"))
            else:
                channel.on("open", lambda: self.send(FaceChanged(self.ladder.rung, "start")))
            channel.on("message", self._on_message)

        @pc.on("connectionstatechange")
        async def on_state():
            if pc.connectionState == "connected":
                self.connected.set()
            elif pc.connectionState in ("failed", "closed"):
                await self.close("connection_lost" if pc.connectionState == "failed" else "hung_up")

        pc.addTrack(self._relayed(self.audio))
        if offer.video:  # an audio-only client gets the voice and the captions
            pc.addTrack(self._relayed(self.video))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        self._spawn(self._run())
        if self.broadcast:
            self._spawn(self.broadcast.start(lambda: (self._relayed(self.audio), self._relayed(self.video))))
        return pc.localDescription

    def _hold_mic_packets(self, track) -> None:
        """aiortc has no setting for how many audio packets its receiver holds back (4: 80 ms before the
        VAD hears the caller): replace its jitter buffer with one of ``mic_reorder_packets``."""
        for transceiver in self.pc.getTransceivers():
            receiver = transceiver.receiver
            if receiver.track is track and hasattr(receiver, "_RTCRtpReceiver__jitter_buffer"):
                receiver._RTCRtpReceiver__jitter_buffer = JitterBuffer(capacity=16, prefetch=self.mic_reorder_packets)

    def expire_unless_connected(self, timeout_s: float) -> None:
        """An offer whose peer never connects (a client that gave up, or a probe) is let go."""
        async def watch() -> None:
            try:
                await asyncio.wait_for(self.connected.wait(), timeout_s)
            except asyncio.TimeoutError:
                log.info("session %s: not connected after %g s; closed", self.id, timeout_s)
                await self.close("connection_lost")

        self._spawn(watch())

    def _relayed(self, track):
        return self.relay.subscribe(track, buffered=False)

    def send(self, event: Event) -> None:
        self.video.observe(event)  # the 2D face learns what the page learns (listening, greeted)
        if self.channel is None or self.channel.readyState != "open":
            return
        try:
            self.channel.send(json.dumps(event.wire()))
        except Exception as exc:  # a closing channel: the call ends through its own path
            log.info("session %s: could not send %s: %s", self.id, event.type, exc)

    def _on_message(self, message) -> None:
        if len(message) > MAX_MESSAGE_CHARS:
            return self.send(Problem(f"messages are at most {MAX_MESSAGE_CHARS} characters; this one was "
                                     f"{len(message)}"))
        try:
            data = json.loads(message)
        except (TypeError, ValueError):  # UnicodeDecodeError too: binary that is not UTF-8
            return self.send(Problem("messages are JSON objects in UTF-8 text"))
        if not isinstance(data, dict):
            return self.send(Problem("messages are JSON objects"))
        if data.get("type") == "text" and isinstance(data.get("text"), str):
            if not self._take_typed():
                return self.send(Problem("too many messages at once; wait a moment before sending another"))
            self._spawn(self.voice.typed(data["text"]))
        elif data.get("type") == "view" and data.get("view") in ("2d", "3d"):
            top = self.ladder.best if data["view"] == "2d" else "browser3d"
            self._rung_changed(self.ladder.set_top(top, time.perf_counter()))
        else:
            self.send(Problem('unknown message; send {"type": "text", "text": ...} '
                              'or {"type": "view", "view": "2d" | "3d"}'))

    def _take_typed(self) -> bool:
        tokens, then = self._typed
        now = time.monotonic()
        tokens = min(float(TYPED_BURST), tokens + (now - then) * TYPED_PER_S)
        self._typed = (tokens - 1, now) if tokens >= 1 else (tokens, now)
        return tokens >= 1

    async def _pump_mic(self, track) -> None:
        resampler = Resampler()
        while True:
            try:
                # A browser sends audio (silence included) all the time: none for a while means it
                # is gone without saying so (crashed, network lost).
                frame = await asyncio.wait_for(track.recv(), MIC_TIMEOUT_S)
            except (MediaStreamError, asyncio.TimeoutError) as exc:
                self._spawn(self.close("hung_up" if isinstance(exc, MediaStreamError) else "connection_lost"))
                break
            pcm = resampler.convert(frame)
            if self.recorder is not None:  # what the caller said, before the echo guard silences any of it
                self.recorder.caller_audio(pcm)
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
                if isinstance(event, SpokenChunk):  # the media carries those
                    continue
                if self.report is not None:
                    self.report.observe(event)
                if self.recorder is not None:
                    self.recorder.observe(event)
                if self.metrics is not None and isinstance(event, TurnDone):
                    self.metrics.turn_done(event)
                elif self.metrics is not None and isinstance(event, TurnFailed):
                    self.metrics.turn_failed()
                elif self.metrics is not None and isinstance(event, EarlyReply):
                    self.metrics.early_reply(event.outcome)
                self.send(event)
        except Exception:
            log.exception("session %s failed", self.id)
            self._session_failed = True
            self.send(Problem("the session failed; reconnect"))

    def _chunk_started(self, chunk: SpokenChunk) -> None:
        self.send(ChunkPlaying(chunk.speech.text, chunk.visemes))
        if self.recorder is not None:
            self.recorder.caption(chunk.speech.text, len(chunk.speech.audio) / chunk.speech.sample_rate)

    def _audio_sent(self, pcm, rate: int) -> None:
        if self.echo is not None:
            self.echo.sent(pcm, rate)
        if self.recorder is not None:
            self.recorder.avatar_audio(pcm)

    def _audio_late(self, late_ms: float) -> None:
        self._rung_changed(self.ladder.observe("audio", late_ms, time.perf_counter()))

    def _video_late(self, late_ms: float) -> None:
        self._rung_changed(self.ladder.observe("video", late_ms, time.perf_counter()))

    def _rung_changed(self, rung: str | None) -> None:
        if rung is not None:
            self.video.face = self.faces.get(rung, self.video.face)
            reason = self.ladder.changes[-1][2]
            log.info("session %s: face now %s (%s)", self.id, rung, reason)
            if self.metrics is not None:
                self.metrics.ladder.labels(rung).inc()
            self.send(FaceChanged(rung, reason))

    def stats(self) -> dict:
        return {"frames_sent": self.video.frames_sent, "frames_skipped": self.video.frames_skipped,
                "audio_seconds_sent": self.clock.samples_sent / RATE, "broadcast": self.broadcast.stats(),
                "rung": self.ladder.rung, "rung_changes": len(self.ladder.changes),
                "connected": self.connected.is_set(),
                "echo_frames_silenced": self.echo.frames_silenced if self.echo is not None else 0}

    async def close(self, how: str = "hung_up") -> None:
        """Stop the turn, every task, the avatar's tracks, the broadcast and the peer; close the
        recording; then write the report of a call that connected, ended ``how`` (``live/report.py``:
        ENDINGS) or by its session's failure. An offer that never connected was no call: it has no report."""
        if self.closed.is_set():
            return
        self.closed.set()
        self._offer_mic(None)
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)
            if stuck:  # a call must end even if one of its tasks does not: say which
                log.warning("session %s: %s still running after close", self.id,
                            ", ".join(t.get_coro().__qualname__ for t in stuck))
        await self.voice.close()
        await self.broadcast.stop()
        # Stopping the sources ends the relay's readers and every copy of the tracks with them.
        self.audio.stop()
        self.video.stop()
        await self.pc.close()
        if self.recorder is not None:  # the tracks have stopped: nothing more comes to it
            await asyncio.get_running_loop().run_in_executor(None, self.recorder.close)
        if self.report is not None and self.connected.is_set():
            lipsync = self.faces.get("lipsync")
            await self.report.end("failed" if self._session_failed else how, self.stats(), self.ladder.changes,
                                  lipsync.failures if isinstance(lipsync, FallbackFace) else 0)
