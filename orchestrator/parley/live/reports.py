"""The folder of call reports: each written whole or not at all, kept ``reports.keep_days``, listed
and read by the operator (``GET /api/reports``, ``GET /api/reports/{id}``, with the operator token).

A report that cannot be written (disk full, a folder that cannot be made or written to) never
touches the call it is about: the first failure is logged, every one is counted (``failed``, shown as
``parley_reports_failed``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from aiohttp import web

from parley.config import ReportsConfig
from parley.live.protect import require_operator
from parley.models.store import parley_home

log = logging.getLogger("parley.reports")
FILE_ID = re.compile(r"\d{8}T\d{9}Z-[A-Za-z0-9_-]{1,64}")  # file_id: the start (UTC, to the ms), the session
MAX_LISTED = 1000


def file_id(started: float, call: str) -> str:
    """A call's files are named by its start (UTC, to the millisecond) and its session: sorted by name,
    the newest come last."""
    at = datetime.fromtimestamp(started, timezone.utc)
    return at.strftime("%Y%m%dT%H%M%S") + f"{at.microsecond // 1000:03d}Z-{call}"


def report_id(report: dict) -> str:
    return file_id(datetime.fromisoformat(report["started"]).timestamp(), report["call"])


def prune_older(folder: Path, keep_s: float, pattern: str) -> None:
    """Delete the files of ``folder`` matching ``pattern`` last written more than ``keep_s`` ago."""
    oldest = time.time() - keep_s
    for path in folder.glob(pattern):
        try:
            if path.stat().st_mtime < oldest:
                path.unlink()
        except FileNotFoundError:  # another orchestrator sharing the folder pruned it first
            pass


def newest_files(folder: Path, suffix: str) -> list[dict]:
    """The files of ``folder`` named ``<id><suffix>``, newest first (at most ``MAX_LISTED``): id, when
    last written, bytes."""
    found = []
    for path in folder.glob(f"*{suffix}") if folder.is_dir() else ():
        if FILE_ID.fullmatch(path.stem):
            stat = path.stat()
            found.append({"id": path.stem, "written": round(stat.st_mtime, 3), "bytes": stat.st_size})
    return sorted(found, key=lambda r: r["id"], reverse=True)[:MAX_LISTED]


class Reports:
    def __init__(self, config: ReportsConfig, base: Path) -> None:
        """``base``: the stack file's folder, which a relative ``reports.folder`` is relative to."""
        self.enabled = config.enabled
        self.folder = base / config.folder if config.folder is not None else parley_home() / "reports"
        self.keep_s = config.keep_days * 86400
        self.failed = 0

    def write(self, report: dict) -> Path | None:
        """Keep ``report`` (atomically: a reader never sees half a file) and drop those past their time;
        the path, or None when it could not be written."""
        if not self.enabled:
            return None
        path = self.folder / f"{report_id(report)}.json"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(fd, "w") as out:
                    json.dump(report, out, indent=1)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            prune_older(self.folder, self.keep_s, "*.json")
            return path
        except OSError as exc:
            if not self.failed:
                log.warning("call reports cannot be written to %s (%s); calls go on without them, and "
                            "parley_reports_failed counts them", self.folder, exc)
            self.failed += 1
            return None

    def listing(self) -> list[dict]:
        """The newest reports first (at most ``MAX_LISTED``): id, when written, bytes."""
        return newest_files(self.folder, ".json")

    def read(self, rid: str) -> bytes:
        """One report's JSON; ``ValueError`` for what is no report id, ``FileNotFoundError`` for one not kept."""
        if not FILE_ID.fullmatch(rid):
            raise ValueError(f"{rid!r} is not a report id (as /api/reports lists them: 20250101T120000000Z-SESSION)")
        return (self.folder / f"{rid}.json").read_bytes()

    def routes(self, operator: str | None) -> list[web.RouteDef]:
        """The operator's view: the list and one report, both behind the operator token."""
        async def listing(request: web.Request) -> web.Response:
            require_operator(request, operator)
            return web.json_response({"folder": str(self.folder), "enabled": self.enabled, "failed": self.failed,
                                      "reports": self.listing()})

        async def one(request: web.Request) -> web.Response:
            require_operator(request, operator)
            try:
                body = self.read(request.match_info["id"])
            except ValueError as exc:
                raise web.HTTPBadRequest(text=str(exc)) from None
            except FileNotFoundError:
                raise web.HTTPNotFound(text="no such report (it may be past reports.keep_days)") from None
            return web.Response(body=body, content_type="application/json")

        return [web.get("/api/reports", listing), web.get("/api/reports/{id}", one)]
