"""The folder of recorded calls (``recording.folder``): a recorder for each call whose caller agreed
(``live/recording.py``), their files listed and served to the operator (``GET /api/recordings``, a
transcript, its media and captions, with the operator token), kept ``recording.keep_days``.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from aiohttp import web

from parley.config import RecordingConfig
from parley.live.protect import require_operator
from parley.live.recording import KINDS, CallRecorder
from parley.live.reports import FILE_ID, newest_files, prune_older
from parley.models.store import parley_home

log = logging.getLogger("parley.recording")


class Recordings:
    """The folder of recordings: a recorder for each consenting call, the listing and the downloads."""

    def __init__(self, config: RecordingConfig, base: Path) -> None:
        """``base``: the stack file's folder, which a relative ``recording.folder`` is relative to."""
        self.enabled = config.enabled
        self.folder = base / config.folder if config.folder is not None else parley_home() / "recordings"
        self.keep_days = config.keep_days
        self.keep_s = config.keep_days * 86400
        self.failed = 0  # recordings that could not be written (or went on being written)
        self.dropped = 0  # media items dropped because the recorder fell behind
        self._lock = threading.Lock()

    def terms(self) -> dict | None:
        """What the caller's page is told before it asks for consent (how long a recording is kept);
        None where calls are not recorded, and the page asks nothing."""
        return {"keep_days": self.keep_days} if self.enabled else None

    def recorder(self, call_id: str, video_size: int) -> CallRecorder | None:
        """The recorder of a call whose caller agreed; None when recording is off."""
        return CallRecorder(self, call_id, video_size) if self.enabled else None

    def failure(self, exc: BaseException) -> None:
        with self._lock:
            if not self.failed:
                log.warning("calls cannot be recorded in %s (%s); they go on unrecorded, and "
                            "parley_recordings_failed counts them", self.folder, exc)
            self.failed += 1

    def prune(self) -> None:
        for suffix, _ in KINDS.values():
            prune_older(self.folder, self.keep_s, f"*{suffix}")

    def listing(self) -> list[dict]:
        """The newest recordings first (as ``newest_files``): id, when last written, the media's bytes."""
        return newest_files(self.folder, ".webm")

    def path(self, rid: str, kind: str) -> Path:
        """One file of a recording; ``ValueError`` for what is no recording id, ``FileNotFoundError``
        for one not kept."""
        if not FILE_ID.fullmatch(rid):
            raise ValueError(f"{rid!r} is not a recording id (as /api/recordings lists them: "
                             "20250101T120000000Z-SESSION)")
        path = self.folder / f"{rid}{KINDS[kind][0]}"
        if not path.is_file():
            raise FileNotFoundError(path)
        return path

    def routes(self, operator: str | None) -> list[web.RouteDef]:
        """The operator's view: the list, a transcript, the media and the captions, behind the operator token."""
        async def listing(request: web.Request) -> web.Response:
            require_operator(request, operator)
            return web.json_response({"folder": str(self.folder), "enabled": self.enabled, "failed": self.failed,
                                      "dropped": self.dropped, "recordings": self.listing()})

        def one(kind: str):
            async def handler(request: web.Request) -> web.StreamResponse:
                require_operator(request, operator)
                try:
                    path = self.path(request.match_info["id"], kind)
                except ValueError as exc:
                    raise web.HTTPBadRequest(text=str(exc)) from None
                except FileNotFoundError:
                    raise web.HTTPNotFound(text="no such recording (it may be past recording.keep_days)") from None
                disposition = "inline" if kind == "transcript" else f'attachment; filename="{path.name}"'
                return web.FileResponse(path, headers={"Content-Type": KINDS[kind][1],
                                                       "Content-Disposition": disposition})
            return handler

        return [web.get("/api/recordings", listing), web.get("/api/recordings/{id}", one("transcript")),
                web.get("/api/recordings/{id}/media", one("media")),
                web.get("/api/recordings/{id}/captions", one("captions"))]
