"""The live side of a stack: the face drawn and its degradation ladder, the server callers reach, and
where the avatar is broadcast to viewers."""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path
from typing import Literal

from pydantic import Field, IPvAnyNetwork, model_validator

from parley.config.base import Strict


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # Browsers give a page the microphone only over HTTPS (or on localhost): binding anywhere but
    # loopback needs a certificate.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # The addresses offered as WebRTC (ICE) host candidates; default: every interface but loopback.
    # ["127.0.0.1"] keeps all media on loopback (the end-to-end tests do this).
    ice_addresses: list[str] | None = None
    # Microphone packets a call holds back to put a late one back in order before the VAD hears it:
    # each is 20 ms of delay before every reply. aiortc holds 4; 1 suffices where packets arrive in
    # order (a LAN, loopback); more for callers on lossy, reordering networks.
    mic_reorder_packets: int = Field(1, ge=1, le=8)
    # STUN/TURN servers (e.g. "stun:stun.example.org:3478") for callers behind NAT; none by default,
    # so the server looks nothing up outside the machine.
    ice_servers: list[str] = []
    # Calls served at once; more are told to try again later (HTTP 503). Default: one per CPU core,
    # what keeps every call's face at full frame rate (docs/benchmarks.md, capacity).
    max_sessions: int | None = Field(None, ge=1)
    # New calls one client address may start per minute (ten seconds' worth, at least 3, at once).
    calls_per_minute: float = Field(6, gt=0)
    # An offer whose peer has not connected after this long is closed and its place freed (it counts
    # against max_sessions from the moment it is taken).
    connect_timeout_s: float = Field(20, gt=0)
    # After SIGTERM (or Ctrl-C) the server takes no new calls and lets those in progress go on for at
    # most this long, then closes them and exits; a second signal closes them at once. An orchestrator
    # in Kubernetes needs a terminationGracePeriodSeconds a little longer than this.
    drain_s: float = Field(300, ge=0)
    # Bearer token for /metrics and /api/stats (or $PARLEY_OPERATOR_TOKEN); unset: they are off.
    operator_token: str | None = None
    # Shared by the orchestrators behind one proxy, so any of them accepts a link another issued
    # (or $PARLEY_TOKEN_SECRET); unset: a fresh secret each start.
    token_secret: str | None = None
    # This orchestrator's name behind a proxy (or $PARLEY_NODE): sent as the parley_node cookie so the
    # proxy keeps a call's requests on the orchestrator that holds it.
    node: str | None = None
    # Proxies whose X-Forwarded-For names the caller (for the per-address limit), as addresses or
    # subnets (a router's pods come and go in one); any other peer is the caller.
    trusted_proxies: list[IPvAnyNetwork] = []

    def trusts(self, address: str) -> bool:
        """Whether ``address`` is a trusted proxy's (False for anything that is not an IP address)."""
        try:
            ip = ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted_proxies)

    @model_validator(mode="after")
    def _tls_off_loopback(self) -> "ServerConfig":
        loopback = self.host in ("127.0.0.1", "localhost", "::1")
        if not loopback and not (self.tls_cert and self.tls_key):
            raise ValueError(f"host {self.host!r} is not loopback: set tls_cert and tls_key "
                             "(browsers only allow the microphone over HTTPS)")
        return self


class ReportsConfig(Strict):
    """Where every call's report is kept (its turns, timings and fallbacks, without the words)."""

    enabled: bool = True
    # Relative to the stack file; none: $PARLEY_HOME/reports (the models' home, ~/.cache/parley).
    folder: Path | None = None
    # Reports older than this are deleted as new ones are written.
    keep_days: float = Field(30, gt=0)


class RecordingConfig(Strict):
    """Calls recorded with their caller's consent: one media file (both voices, the avatar's video),
    its captions and a transcript. Off unless turned on; the caller's page then asks before the call."""

    enabled: bool = False
    # Relative to the stack file; none: $PARLEY_HOME/recordings (beside the reports).
    folder: Path | None = None
    # Recordings older than this are deleted as new ones are made.
    keep_days: float = Field(30, gt=0)


class LadderConfig(Strict):
    """When the live face steps down (neural lip-sync → 2D warp → 3D drawn by the browser → audio and
    captions) and back."""

    enabled: bool = True
    # The rung not to go below.
    lowest: Literal["lipsync", "warp2d", "browser3d", "audio"] = "audio"
    # Late media (frames rendered after their slot, audio sent late) for this long steps down a rung.
    step_down_after_s: float = Field(2.0, gt=0)
    # This long on time steps back up a rung.
    step_up_after_s: float = Field(15.0, gt=0)
    # A frame or audio packet this late counts as late.
    late_ms: float = Field(40.0, gt=0)


class FaceConfig(Strict):
    # An avatar under avatars/ (or a path to its avatar.yaml) for the live 2D video.
    avatar: str = "portrait"
    # A 3D avatar (GLB) the browser draws on the 3D rung or when the caller picks 3D.
    avatar3d: str = "head3d"
    # What draws the 2D mouth: the warp (the portrait's own mouth moved by visemes, any CPU) or a
    # lip-sync network fed with the audio (a GPU's job; the live face steps down to the warp when
    # its frames are late).
    engine: Literal["warp", "wav2lip", "musetalk"] = "warp"
    # Where the network runs: in this process (onnxruntime: TensorRT or CUDA when present, else the CPU)
    # or on the Triton server of the triton: section, batched with every other session's frames.
    runtime: Literal["onnxruntime", "triton"] = "onnxruntime"
    # The exported network (export/wav2lip.py: an .onnx file; export/musetalk.py: its folder),
    # relative to this file; not needed for Wav2Lip on Triton, which holds its own copy.
    model: Path | None = None
    # The model's name in the Triton repository (default: lipsync for wav2lip, musetalk for musetalk).
    triton_model: str | None = None
    # Frames per network call when a whole reply is rendered at once (parley say, animate).
    batch_size: int = Field(16, ge=1, le=256)
    # How far below the conversation's the face's threads run (Unix nice, 0 to 19): when the cores
    # are short, a video frame is skipped (the next one shows the mouth where the audio is) rather
    # than a reply's first words delayed. 0: the same priority.
    nice: int = Field(10, ge=0, le=19)
    # Frames a second while the avatar is silent (listening to the caller, thinking): its face then
    # barely moves, and every frame is paid for in rendering and encoding, on the server and on each
    # viewer's device, while the caller waits for the reply. The video is back at full rate the
    # moment a reply's audio is queued. None: always full rate.
    idle_fps: float | None = Field(15.0, gt=0)
    ladder: LadderConfig = LadderConfig()

    @model_validator(mode="after")
    def _model_given(self) -> "FaceConfig":
        # MuseTalk's VAE and Whisper encoders run in this process even when Triton serves its frames.
        needed = self.engine == "musetalk" or (self.engine == "wav2lip" and self.runtime == "onnxruntime")
        if needed and self.model is None:
            what = "an .onnx file from export/wav2lip.py (or runtime: triton)" if self.engine == "wav2lip" else \
                "the folder export/musetalk.py wrote"
            raise ValueError(f"engine {self.engine} needs model: {what}")
        return self


class JanusTarget(Strict):
    # Janus's HTTP API; viewers never reach it: Parley brokers their subscriptions.
    url: str = "http://127.0.0.1:8088/janus"
    max_viewers: int = Field(50, ge=1)


class RtmpTarget(Strict):
    # The avatar is pushed to <url>/<session id> (nginx-rtmp, or any RTMP ingest).
    url: str = "rtmp://127.0.0.1:1935/live"
    # Where viewers fetch <hls_url>/<session id>.m3u8; none: no HLS link is given to viewers.
    hls_url: str | None = None
    video_kbps: int = Field(1200, ge=100)


class WhipTarget(Strict):
    # A WHIP ingest endpoint (RFC 9725): Ant Media, MediaMTX, Cloudflare, Janus behind a WHIP server …
    url: str
    token: str | None = None


class BroadcastConfig(Strict):
    """Where the avatar's audio and video are published for viewers; each target is optional."""

    janus: JanusTarget | None = None
    rtmp: RtmpTarget | None = None
    whip: WhipTarget | None = None
