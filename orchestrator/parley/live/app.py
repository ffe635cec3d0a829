"""The web server: the demo page, session links, and WebRTC offers (aiohttp + aiortc).

Engines are loaded once (``parley.assemble``) and shared by every call; each call has its own VAD
state, history, queues and media. An offer is checked before anything is created for it, a call is
admitted only while the server can serve it well (counted from the moment its offer is taken, so a
rush of offers cannot slip past the limit while they are being answered), none is admitted while the
server drains, and a call that ends leaves nothing running.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
import time
from collections import Counter
from pathlib import Path

from aiohttp import web
from aiortc import RTCSessionDescription

from parley.assemble import Parley
from parley.config import ConfigError
from parley.config.avatar import GLBAvatar
from parley.core.threads import named_pool
from parley.face.avatars import load_avatar
from parley.hear.echo import EchoGuard
from parley.live.admission import Admission
from parley.live.broadcast import Broadcast, BroadcastError
from parley.live.broadcast.janus import JanusError
from parley.live.call import Call, ice_configuration
from parley.live.ladder import Ladder
from parley.live.metrics import Metrics
from parley.live.offer import Offer, OfferError, check_offer
from parley.live.operator import Operator
from parley.live.placement import Placement, placements
from parley.live.protect import caller_address, content_policy, operator_token, require_operator, secure_headers
from parley.live.recordings import Recordings
from parley.live.report import CallReport
from parley.live.reports import Reports
from parley.live.tokens import TokenError, Tokens

REPO = Path(__file__).resolve().parents[3]
log = logging.getLogger("parley.live")
NODE_COOKIE = "parley_node"
PLACEMENT_TTL_S = 5.0


class Server:
    def __init__(self, parley: Parley) -> None:
        self.parley = parley
        self.settings = settings = parley.settings
        stack, cfg = settings.stack, settings.stack.server
        self.avatar = parley.avatar()
        if isinstance(self.avatar, GLBAvatar):
            raise ConfigError(f"{settings.path}: face.avatar: {self.avatar.name} is a 3D avatar; the live video "
                              "needs a portrait (the 3D avatar is played in the browser)")
        self.head3d = load_avatar(stack.face.avatar3d)
        if not isinstance(self.head3d, GLBAvatar):
            raise ConfigError(f"{settings.path}: face.avatar3d: {self.head3d.name} is a portrait; the 3D view "
                              "needs a GLB avatar (e.g. head3d)")
        # A broken portrait or a missing lip-sync export stops the start, not every call.
        self.faces = {"warp2d": parley.face(self.avatar, "warp")}
        if stack.face.engine != "warp":
            self.faces["lipsync"] = parley.face(self.avatar)
        self.top_rung = "lipsync" if "lipsync" in self.faces else "warp2d"
        parley.warm_up()  # llama.cpp keeps the persona prompt evaluated
        secret = cfg.token_secret or os.environ.get("PARLEY_TOKEN_SECRET")
        self.tokens = Tokens(secret.encode() if secret else None)
        self.node = cfg.node or os.environ.get("PARLEY_NODE")
        self.ice = ice_configuration(cfg.ice_servers)
        self.admission = Admission(cfg.max_sessions or os.cpu_count() or 1, cfg.calls_per_minute,
                                   settings.persona.name)
        self.operator = operator_token(cfg.operator_token)
        self.reports = Reports(stack.reports, settings.path.parent)
        self.recordings = Recordings(stack.recording, settings.path.parent)
        self.sessions: dict[str, Call] = {}
        self._answering: Counter[str] = Counter()  # session id → its offers being answered right now
        self._ended = {"frames_sent": 0, "frames_skipped": 0}  # of calls that have ended
        self._watchers: set[asyncio.Task] = set()
        self.metrics = Metrics(self._metrics_state)
        # Where each stage runs, as warm_up left it: logged once, then kept fresh for the health check.
        self._placed = (time.monotonic(), placements(settings, parley.engines, self.faces))
        self._placing: asyncio.Future | None = None
        for p in self._placed[1]:
            log.info("%s runs %s (%s): %s", p.stage, p.label, p.engine, p.why)

    def new_session(self, session_id: str, record: bool = False) -> Call:  # record: the caller agreed
        stack = self.settings.stack
        return Call(session_id, self.parley.voice_session, self.faces, Ladder(stack.face.ladder, self.top_rung),
                    Broadcast(stack.broadcast, session_id, fps=stack.visemes.fps, ice=self.ice), self.ice,
                    echo=EchoGuard() if stack.turn_taking.echo_guard else None,
                    face_threads=self.parley.engines.executor("face"), idle_fps=stack.face.idle_fps,
                    metrics=self.metrics, mic_reorder_packets=stack.server.mic_reorder_packets,
                    report=CallReport(session_id, self.avatar.name, self.settings.persona.name, self._failovers,
                                      self.reports.write),
                    recorder=self.recordings.recorder(session_id, self.faces["warp2d"].size) if record else None)

    # --- routes --------------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(REPO / "web" / "index.html")

    async def health(self, request: web.Request) -> web.Response:
        """Public: whether the server is up, how full it is and where each stage runs (triton-gpu,
        in-process-cpu, fallback-cpu …); why is the operator's (/api/stats)."""
        stages = await self.current_placements()
        return web.json_response({"ok": True, "sessions": len(self.sessions),
                                  "max_sessions": self.admission.max_sessions,
                                  "stages": {p.stage: p.label for p in stages}})

    async def ready(self, request: web.Request) -> web.Response:
        """Public: whether to send this server new callers (a draining one's calls go on meanwhile)."""
        return web.json_response({"ready": not self.draining}, status=503 if self.draining else 200)

    @property
    def draining(self) -> bool:
        return self.admission.draining

    def drain(self) -> None:
        """Take no new calls; those in progress (and their reconnects) go on."""
        self.admission.draining = True

    def held(self) -> set[str]:
        """The sessions that count against max_sessions: a call, live or waiting for its peer, or an
        offer being answered."""
        return self.sessions.keys() | self._answering.keys()

    async def current_placements(self) -> list[Placement]:
        """The last answer at once; a stale one is asked of Triton again in the background (a Triton that
        does not answer must slow neither the health check nor calls)."""
        if time.monotonic() - self._placed[0] > PLACEMENT_TTL_S and self._placing is None:
            self._placing = asyncio.ensure_future(self._place())
            self._watchers.add(self._placing)
        return self._placed[1]

    async def _place(self) -> None:
        try:
            stages = await asyncio.get_running_loop().run_in_executor(
                None, placements, self.settings, self.parley.engines, self.faces)
            self._placed = (time.monotonic(), stages)
        finally:
            self._watchers.discard(self._placing)
            self._placing = None

    async def stats(self, request: web.Request) -> web.Response:
        require_operator(request, self.operator)
        return web.json_response({"sessions": {sid: s.stats() for sid, s in self.sessions.items()},
                                  "stages": [p.wire() for p in await self.current_placements()],
                                  "refused": self.admission.refused, "draining": self.draining,
                                  "tasks": len(asyncio.all_tasks()),
                                  "threads": threading.active_count(),
                                  "llm_waiting": self.parley.engines.executor("llm").waiting})

    async def metrics_page(self, request: web.Request) -> web.Response:
        require_operator(request, self.operator)
        return web.Response(body=self.metrics.text(), content_type="text/plain", charset="utf-8")

    def _refuse_if_busy(self, address: str | None = None) -> None:
        refusal = self.admission.check(len(self.held()), address)
        if refusal is not None:
            # A hasty address is asking too often (429); otherwise this server cannot take the call (503).
            error = web.HTTPTooManyRequests if refusal.reason == "rate" else web.HTTPServiceUnavailable
            raise error(text=refusal.message, headers={"Retry-After": str(refusal.retry_after_s)})

    async def create_session(self, request: web.Request) -> web.Response:
        self._refuse_if_busy(caller_address(request, self.settings.stack.server))
        session_id = secrets.token_urlsafe(9)
        persona = self.settings.persona
        response = web.json_response({
            "session": session_id,
            "caller_token": self.tokens.issue(session_id, "caller"),
            "viewer_token": (viewer := self.tokens.issue(session_id, "viewer")),
            "viewer_url": f"/watch?token={viewer}" + (f"&node={self.node}" if self.node else ""),
            "persona": {"name": persona.name, "role": persona.role, "greeting": persona.greeting},
            "avatar3d": "/avatar3d.glb",
            "recording": self.recordings.terms(),
        })
        self._stick(response)
        return response

    def _stick(self, response: web.StreamResponse) -> None:
        """Behind a proxy, the cookie that keeps this caller's (or viewer's) requests on this node."""
        if self.node:
            response.set_cookie(NODE_COOKIE, self.node, httponly=True, samesite="Strict", path="/")

    async def avatar3d(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(self.head3d.model_path, headers={"Content-Type": "model/gltf-binary"})

    async def offer(self, request: web.Request) -> web.Response:
        body = await self._json(request, "token", "sdp", "type")
        try:
            session_id = self.tokens.check(body["token"], role="caller")
        except TokenError as exc:
            raise web.HTTPForbidden(text=str(exc)) from None
        record = body.get("record", False)
        if not isinstance(record, bool):
            raise web.HTTPBadRequest(text="record is true (the caller agreed to be recorded) or false")
        try:
            offer = check_offer(body["sdp"], body["type"])
        except OfferError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        if session_id not in self.held():  # a reconnect keeps its call's place; a new call must fit
            self._refuse_if_busy()
        # Held from here, before the first await: offers that arrive together cannot all see room.
        self._answering[session_id] += 1
        try:
            answer = await self._answer(session_id, offer, record)
        finally:
            self._answering[session_id] -= 1
            if not self._answering[session_id]:
                del self._answering[session_id]
        return web.json_response({"sdp": answer.sdp, "type": answer.type})

    async def _answer(self, session_id: str, offer: Offer, record: bool) -> RTCSessionDescription:
        """A call for the offer, kept in place of the session's last one only once it is answered."""
        call = self.new_session(session_id, record)
        try:
            answer = await call.answer(offer)
        except Exception as exc:  # aiortc found what the check did not: nothing is kept, nothing replaced
            await call.close()
            log.info("offer refused: %s: %s", type(exc).__name__, exc)
            raise web.HTTPBadRequest(text=f"the offer could not be answered: {exc or type(exc).__name__}") from None
        except BaseException:  # the request was cancelled: nothing half-made is kept either
            await call.close()
            raise
        # Read only now: another offer of this session may have been answered meanwhile.
        old = self.sessions.get(session_id)
        self.sessions[session_id] = call
        if old is not None:
            await old.close("replaced")
        call.expire_unless_connected(self.settings.stack.server.connect_timeout_s)
        watcher = asyncio.ensure_future(self._forget_when_closed(call))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        return answer

    async def watch_page(self, request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(REPO / "web" / "watch.html")
        self._stick(response)
        return response

    async def _json(self, request: web.Request, *keys: str) -> dict:
        wanted = f"send a JSON object with {', '.join(keys)}"
        try:
            body = await request.json()
        except ValueError:  # bad JSON or bad UTF-8
            raise web.HTTPBadRequest(text=f"the body is not JSON: {wanted}") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text=f"the body is JSON but not an object: {wanted}")
        if missing := [k for k in keys if k not in body]:
            raise web.HTTPBadRequest(text=f"{', '.join(missing)} missing: {wanted}")
        return body

    def _watched(self, token) -> Call:
        try:
            session_id = self.tokens.check(token, role="viewer")
        except TokenError as exc:
            raise web.HTTPForbidden(text=str(exc)) from None
        session = self.sessions.get(session_id)
        if session is None:
            raise web.HTTPNotFound(text="this session is not live (the caller has not connected, or has left)")
        return session

    async def watch(self, request: web.Request) -> web.Response:
        """A viewer asks to watch: Janus's WebRTC offer for it, and the HLS link where there is one."""
        body = await self._json(request, "token")
        broadcast = self._watched(body["token"]).broadcast
        reply: dict = {"hls": broadcast.hls_url(), "webrtc": None}
        wants_hls = body.get("via") == "hls" and reply["hls"] is not None
        if broadcast.janus is not None and "janus" in broadcast.live and not wants_hls:
            try:
                viewer, offer = await broadcast.janus.subscribe()
                reply["webrtc"] = {"viewer": viewer, "sdp": offer, "type": "offer"}
            except (BroadcastError, JanusError) as exc:
                reply["webrtc_error"] = str(exc)
        if reply["webrtc"] is None and reply["hls"] is None:
            raise web.HTTPServiceUnavailable(text="this session is not broadcast (configure broadcast.janus or "
                                                  "broadcast.rtmp.hls_url), or its broadcast failed: "
                                                  f"{broadcast.stats()['failed']}")
        return web.json_response(reply)

    async def watch_answer(self, request: web.Request) -> web.Response:
        body = await self._json(request, "token", "viewer", "sdp")
        session = self._watched(body["token"])
        if session.broadcast.janus is None or not isinstance(body["viewer"], int):
            raise web.HTTPBadRequest(text="no WebRTC broadcast to answer; ask /api/watch first")
        try:
            await session.broadcast.janus.answer(body["viewer"], str(body["sdp"]))
        except (BroadcastError, JanusError, asyncio.TimeoutError) as exc:
            raise web.HTTPBadRequest(text=f"the answer was not accepted: {exc}") from None
        return web.json_response({"ok": True})

    async def _forget_when_closed(self, call: Call) -> None:
        await call.closed.wait()
        if self.sessions.get(call.id) is call:
            del self.sessions[call.id]
        self._ended["frames_sent"] += call.video.frames_sent
        self._ended["frames_skipped"] += call.video.frames_skipped

    def _failovers(self) -> dict[str, int]:
        return {kind: engine.switch.failovers for kind, engine in self.parley.engines.loaded().items()
                if hasattr(engine, "switch")}

    def _metrics_state(self) -> dict:
        live = list(self.sessions.values())
        return {"sessions": len(live), "max_sessions": self.admission.max_sessions, "fallbacks": self._failovers(),
                "refused": self.admission.refused, "draining": self.draining, "reports_failed": self.reports.failed,
                "recordings_failed": self.recordings.failed, "recording_dropped": self.recordings.dropped,
                "frames_sent": self._ended["frames_sent"] + sum(c.video.frames_sent for c in live),
                "frames_skipped": self._ended["frames_skipped"] + sum(c.video.frames_skipped for c in live)}

    async def shutdown(self, app: web.Application) -> None:
        how = "drained" if self.draining else "server_stopped"
        await asyncio.gather(*(s.close(how) for s in list(self.sessions.values())), return_exceptions=True)
        for watcher in list(self._watchers):
            watcher.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_get("/", self.index)
        app.router.add_get("/healthz", self.health)
        app.router.add_get("/readyz", self.ready)
        app.router.add_get("/metrics", self.metrics_page)
        app.router.add_get("/api/stats", self.stats)
        app.router.add_post("/api/sessions", self.create_session)
        app.router.add_post("/api/offer", self.offer)
        app.router.add_get("/avatar3d.glb", self.avatar3d)
        app.router.add_get("/watch", self.watch_page)
        app.router.add_post("/api/watch", self.watch)
        app.router.add_post("/api/watch/answer", self.watch_answer)
        app.router.add_routes(self.reports.routes(self.operator))
        app.router.add_routes(self.recordings.routes(self.operator))
        app.router.add_routes(Operator(self).routes())
        app.router.add_static("/web/", REPO / "web")
        app.router.add_static("/avatars/", REPO / "avatars")
        rtmp = self.settings.stack.broadcast.rtmp
        hls = [rtmp.hls_url] if rtmp is not None and rtmp.hls_url else []
        app.on_response_prepare.append(secure_headers(content_policy(sorted((REPO / "web").glob("*.html")), hls)))
        app.on_startup.append(self.name_media_pool)
        app.on_shutdown.append(self.shutdown)
        return app

    async def name_media_pool(self, app: web.Application) -> None:
        """aiortc encodes and decodes on asyncio's default pool: named, its CPU shows apart from the loop's."""
        asyncio.get_running_loop().set_default_executor(named_pool("parley-media"))

