"""The operator's page (``/operator``): the calls in progress and an end-call button, admissions
refused, the last hour's waits and grounding, where each stage runs, recent call reports, the build
and the models.

Everything it shows comes from ``GET /api/operator``, behind the operator token: sent as a header,
or as the short-lived cookie a login (``POST /operator/login``, the token in the body, never in a
URL) sets. A POST made with the cookie must carry this server's Origin; the cookie's SameSite=Strict
already keeps other sites from sending it. The page itself holds no data and is served to anyone.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from parley.core.events import Problem
from parley.live.protect import (
    OPERATOR_COOKIE,
    OPERATOR_COOKIE_S,
    operator_cookie,
    require_operator,
    require_same_origin,
    token_matches,
)

if TYPE_CHECKING:
    from parley.config import Settings

log = logging.getLogger("parley.operator")
WEB = Path(__file__).resolve().parents[3] / "web"
LOGIN_DELAY_S = 1.0  # a wrong token waits this long: guessing costs time, an operator's typo does not
RECENT_REPORTS = 20


def build(repo: Path = WEB.parent) -> dict:
    """The package's version and, in a git checkout, ``git describe`` (None where there is none, as
    in an image built without .git)."""
    try:
        version = importlib.metadata.version("parley")
    except importlib.metadata.PackageNotFoundError:
        version = None
    try:
        described = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=repo, timeout=5,
                                   capture_output=True, text=True, check=True).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        described = None
    return {"version": version, "git": described}


def models(settings: Settings) -> dict[str, str]:
    """Which model does each job, as the stack chose it."""
    stack = settings.stack
    out = {"persona": settings.persona.name, "avatar": stack.face.avatar, "avatar3d": stack.face.avatar3d,
           "vad": stack.vad.model, "asr": f"{stack.asr.model} ({stack.asr.engine})",
           "llm": f"{stack.llm.model} ({stack.llm.engine})", "tts": f"{stack.tts.voice} ({stack.tts.engine})",
           "face": stack.face.engine}
    if stack.turn_taking.turn_model:
        out["turn"] = stack.turn_taking.turn_model
    if stack.retrieval.embedding:
        out["retrieval"] = stack.retrieval.embedding
    return out


class Operator:
    def __init__(self, server) -> None:
        """``server``: the ``live.app.Server`` whose calls, admission, metrics and reports are shown."""
        self.server = server
        self.build = build()
        self.models = models(server.settings)

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/operator", self.page), web.post("/operator/login", self.login),
                web.post("/operator/logout", self.logout), web.get("/api/operator", self.state),
                web.post("/api/operator/calls/{id}/end", self.end_call)]

    async def page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(WEB / "operator.html")

    async def login(self, request: web.Request) -> web.Response:
        """The token in a JSON body gives the cookie; a wrong one is refused after ``LOGIN_DELAY_S``."""
        require_same_origin(request)
        token = self.server.operator
        if token is None:
            require_operator(request, token)  # says how to turn the pages on
        try:
            given = (await request.json())["token"]
        except (ValueError, TypeError, KeyError):
            raise web.HTTPBadRequest(text='send a JSON object {"token": "the operator token"}') from None
        if not isinstance(given, str) or not token_matches(given, token):
            log.info("operator login refused from %s", request.remote)
            await asyncio.sleep(LOGIN_DELAY_S)
            raise web.HTTPUnauthorized(text="that is not the operator token")
        response = web.json_response({"ok": True, "expires_in_s": OPERATOR_COOKIE_S})
        response.set_cookie(OPERATOR_COOKIE, operator_cookie(token), max_age=OPERATOR_COOKIE_S, path="/",
                            httponly=True, samesite="Strict", secure=request.secure)
        return response

    async def logout(self, request: web.Request) -> web.Response:
        require_same_origin(request)
        response = web.json_response({"ok": True})
        response.del_cookie(OPERATOR_COOKIE, path="/")
        return response

    def _operator_post(self, request: web.Request) -> None:
        if require_operator(request, self.server.operator) == "cookie":
            require_same_origin(request)

    async def end_call(self, request: web.Request) -> web.Response:
        """End a call as its caller hanging up would, its report saying the operator ended it."""
        self._operator_post(request)
        call = self.server.sessions.get(request.match_info["id"])
        if call is None:
            raise web.HTTPNotFound(text="no such call in progress (it may have just ended)")
        log.info("session %s: ended by the operator", call.id)
        call.send(Problem("the operator ended this call"))
        await call.close("ended_by_operator")
        return web.json_response({"ended": call.id})

    async def state(self, request: web.Request) -> web.Response:
        require_operator(request, self.server.operator)
        server = self.server
        loop = asyncio.get_running_loop()
        reports = await loop.run_in_executor(None, server.reports.listing)
        recordings = await loop.run_in_executor(None, server.recordings.listing)
        return web.json_response({
            "calls": [self._call(call) for call in list(server.sessions.values())],
            "max_sessions": server.admission.max_sessions, "draining": server.draining,
            "refused": server.admission.refused, "stages": [p.wire() for p in await server.current_placements()],
            "last_hour": server.metrics.trends.last_hour(),
            "reports": {"enabled": server.reports.enabled, "failed": server.reports.failed,
                        "recent": reports[:RECENT_REPORTS]},
            "recordings": {"enabled": server.recordings.enabled, "failed": server.recordings.failed,
                           "dropped": server.recordings.dropped, "recent": recordings[:RECENT_REPORTS]},
            "build": self.build, "models": self.models})

    @staticmethod
    def _call(call) -> dict:
        """One call as the operator sees it: its rung, fps over the call so far, frames skipped, and its
        last turn (timings, outcome, grounding; never the words)."""
        stats = call.stats()
        report = call.report
        seconds = time.time() - report.started if report is not None else 0.0
        return {"id": call.id, "connected": stats["connected"], "seconds": round(seconds, 1), "rung": stats["rung"],
                "fps": round(stats["frames_sent"] / seconds, 1) if seconds > 0 else 0.0,
                "frames_skipped": stats["frames_skipped"], "turns": len(report.turns) if report is not None else 0,
                "last_turn": report.turns[-1] if report is not None and report.turns else None}
