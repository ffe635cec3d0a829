"""What the web server shows the world: security headers, no versions, no tokens in the access log,
and the operator's pages behind their own token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # viewer links carry their token
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "microphone=(self), camera=(self), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def content_policy(pages: list[Path], media_urls: list[str] = ()) -> str:
    """The pages load only their own scripts (three.js and hls.js are served from web/), styles and
    media, plus the HLS server's playlists and segments (from the origins of ``media_urls``); their
    inline import maps are allowed by hash, nothing else inline runs."""
    hashes = []
    for page in pages:
        for script in re.findall(r"<script[^>]*>(.*?)</script>", page.read_text(), re.S):
            if script.strip():
                digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
                hashes.append(f"'sha256-{digest}'")
    media = " ".join(f"{urlsplit(url).scheme}://{urlsplit(url).netloc}" for url in media_urls)
    # connect-src blob: the 3D head's texture is an image inside the GLB, which three.js fetches as a blob.
    return (f"default-src 'self'; script-src 'self' {' '.join(hashes)}; img-src 'self' data: blob:; "
            f"media-src 'self' blob: {media}; worker-src 'self' blob:; connect-src 'self' blob: {media}; "
            "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'").replace("  ", " ").replace(" ;", ";")


def secure_headers(policy: str):
    """An ``on_response_prepare`` handler: every response, errors and static files included."""
    async def add(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(_HEADERS)
        response.headers["Content-Security-Policy"] = policy
        response.headers["Server"] = "parley"
        if request.secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"

    return add


class AccessLog(AbstractAccessLogger):
    """One line a request, without the query string: viewer links carry their token there."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %d %.1f ms", request.remote, request.method, request.path, response.status,
                         time * 1000)


def operator_token(configured: str | None) -> str | None:
    """The operator's token: ``server.operator_token`` or ``$PARLEY_OPERATOR_TOKEN``; None disables
    the operator's pages."""
    return configured or os.environ.get("PARLEY_OPERATOR_TOKEN") or None


def require_operator(request: web.Request, token: str | None) -> None:
    if token is None:
        raise web.HTTPForbidden(text="operator pages are off: set server.operator_token or PARLEY_OPERATOR_TOKEN")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise web.HTTPUnauthorized(text="send the operator token as 'Authorization: Bearer TOKEN'",
                                   headers={"WWW-Authenticate": "Bearer"})
