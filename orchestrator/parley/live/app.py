"""The web server: the demo page, session links, and WebRTC offers (aiohttp + aiortc).

Engines are loaded once (``parley.assemble``) and shared by every call; each call has its own VAD
state, history, queues and media.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
from pathlib import Path

from aiohttp import web

from parley.assemble import Parley
from parley.config import ConfigError
from parley.face.avatars import GLBAvatar, load_avatar
from parley.hear.echo import EchoGuard
from parley.live.broadcast import Broadcast, BroadcastError
from parley.live.broadcast.janus import JanusError
from parley.live.call import Call
from parley.live.ladder import Ladder
from parley.live.media import MediaClock
from parley.live.tokens import TokenError, Tokens

REPO = Path(__file__).resolve().parents[3]
log = logging.getLogger("parley.live")


class Server:
    def __init__(self, parley: Parley) -> None:
        self.parley = parley
        self.settings = settings = parley.settings
        stack = settings.stack
        parley.warm_up()  # llama.cpp keeps the persona prompt evaluated
        self.avatar = parley.avatar()
        if isinstance(self.avatar, GLBAvatar):
            raise ConfigError(f"{settings.path}: face.avatar: {self.avatar.name} is a 3D avatar; the live video "
                              "needs a portrait (the 3D avatar is played in the browser)")
        self.head3d = load_avatar(stack.face.avatar3d)
        if not isinstance(self.head3d, GLBAvatar):
            raise ConfigError(f"{settings.path}: face.avatar3d: {self.head3d.name} is a portrait; the 3D view "
                              "needs a GLB avatar (e.g. head3d)")
        self.tokens = Tokens()
        self.face = parley.face(self.avatar)
        self.sessions: dict[str, Call] = {}

    def new_session(self, session_id: str) -> Call:
        stack = self.settings.stack
        echo = EchoGuard() if stack.turn_taking.echo_guard else None
        clock = MediaClock(on_sent=echo.sent if echo else None)
        return Call(session_id, self.parley.voice_session(clock), clock, self.face,
                    Broadcast(stack.broadcast, session_id, fps=stack.visemes.fps), Ladder(stack.face.ladder), echo)

    # --- routes --------------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(REPO / "web" / "index.html")

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "sessions": len(self.sessions),
                                  "stats": {sid: s.stats() for sid, s in self.sessions.items()}})

    async def create_session(self, request: web.Request) -> web.Response:
        session_id = secrets.token_urlsafe(9)
        persona = self.settings.persona
        return web.json_response({
            "session": session_id,
            "caller_token": self.tokens.issue(session_id, "caller"),
            "viewer_token": (viewer := self.tokens.issue(session_id, "viewer")),
            "viewer_url": f"/watch?token={viewer}",
            "persona": {"name": persona.name, "role": persona.role, "greeting": persona.greeting},
            "avatar3d": "/avatar3d.glb",
        })

    async def avatar3d(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(self.head3d.model_path, headers={"Content-Type": "model/gltf-binary"})

    async def offer(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            token, sdp, kind = body["token"], body["sdp"], body["type"]
        except (ValueError, KeyError, TypeError):
            raise web.HTTPBadRequest(text="send JSON {token, sdp, type} with the browser's offer") from None
        try:
            session_id = self.tokens.check(token, role="caller")
        except TokenError as exc:
            raise web.HTTPForbidden(text=str(exc)) from None
        if kind != "offer":
            raise web.HTTPBadRequest(text="type must be 'offer'")
        old = self.sessions.pop(session_id, None)
        if old is not None:  # a reconnect replaces the previous peer
            await old.close()
        session = self.new_session(session_id)
        self.sessions[session_id] = session
        try:
            answer = await session.answer(sdp, kind)
        except ValueError as exc:
            self.sessions.pop(session_id, None)
            await session.close()
            raise web.HTTPBadRequest(text=f"the offer is not valid SDP: {exc}") from None
        asyncio.ensure_future(self._forget_when_closed(session))
        return web.json_response({"sdp": answer.sdp, "type": answer.type})

    async def watch_page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(REPO / "web" / "watch.html")

    async def _json(self, request: web.Request, *keys: str) -> dict:
        try:
            body = await request.json()
            if not isinstance(body, dict) or any(k not in body for k in keys):
                raise ValueError
        except ValueError:
            raise web.HTTPBadRequest(text=f"send a JSON object with {', '.join(keys)}") from None
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

    async def _forget_when_closed(self, session: Call) -> None:
        await session.closed.wait()
        if self.sessions.get(session.id) is session:
            del self.sessions[session.id]

    async def shutdown(self, app: web.Application) -> None:
        await asyncio.gather(*(s.close() for s in list(self.sessions.values())), return_exceptions=True)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_get("/", self.index)
        app.router.add_get("/healthz", self.health)
        app.router.add_post("/api/sessions", self.create_session)
        app.router.add_post("/api/offer", self.offer)
        app.router.add_get("/avatar3d.glb", self.avatar3d)
        app.router.add_get("/watch", self.watch_page)
        app.router.add_post("/api/watch", self.watch)
        app.router.add_post("/api/watch/answer", self.watch_answer)
        app.router.add_static("/web/", REPO / "web")
        app.router.add_static("/avatars/", REPO / "avatars")
        app.on_shutdown.append(self.shutdown)
        return app


def _offer_only(addresses: list[str]) -> None:
    """aioice has no setting for which interfaces to gather host candidates on: replace its lookup."""
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [
        a for a in addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]


def serve(parley: Parley, host: str | None = None, port: int | None = None) -> None:
    settings = parley.settings
    cfg = settings.stack.server
    if cfg.ice_addresses:
        _offer_only(cfg.ice_addresses)
    host, port = host or cfg.host, cfg.port if port is None else port
    ssl_context = None
    if cfg.tls_cert and cfg.tls_key:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = Server(parley)
    scheme = "https" if ssl_context else "http"
    print(f"Parley: {settings.persona.name} at {scheme}://{host}:{port}/", flush=True)
    web.run_app(server.app(), host=host, port=port, ssl_context=ssl_context, print=None)
