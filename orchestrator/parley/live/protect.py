"""What the web server shows the world: security headers, no versions, no tokens in the access log,
and the operator's pages behind their own token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from parley.config import ServerConfig

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


def caller_address(request: web.Request, server: ServerConfig) -> str:
    """The address a caller is counted by: the peer's, or behind trusted proxies the last address
    forwarded that no trusted proxy holds (what a caller wrote in front of that is theirs to forge)."""
    address = request.remote or ""
    if not server.trusts(address):
        return address
    hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = hop
        if not server.trusts(hop):
            break
    return address


# The operator's browser holds a cookie, not the token: signed with the token (so every orchestrator
# sharing the token accepts it, and changing the token ends every login), readable by no script
# (HttpOnly), sent by no other site (SameSite=Strict), and good for half an hour.
OPERATOR_COOKIE = "parley_operator"
OPERATOR_COOKIE_S = 1800


def operator_cookie(token: str, now: float | None = None) -> str:
    """A login's cookie value: when it expires and its signature."""
    expires = str(int((time.time() if now is None else now) + OPERATOR_COOKIE_S))
    return f"{expires}.{_sign(token, expires)}"


def _sign(token: str, expires: str) -> str:
    return hmac.new(token.encode(), f"parley-operator-cookie:{expires}".encode(), hashlib.sha256).hexdigest()


def cookie_valid(value: str, token: str, now: float | None = None) -> bool:
    """Whether ``value`` is a cookie this token signed and it has not expired."""
    expires, _, signature = value.partition(".")
    if not expires.isdigit() or not hmac.compare_digest(signature.encode(), _sign(token, expires).encode()):
        return False
    return int(expires) > (time.time() if now is None else now)


def token_matches(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


def require_operator(request: web.Request, token: str | None) -> str:
    """How the operator proved it (``header`` or ``cookie``); 403 when the operator's pages are off,
    401 without the token."""
    if token is None:
        raise web.HTTPForbidden(text="operator pages are off: set server.operator_token or PARLEY_OPERATOR_TOKEN")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if given and token_matches(given, token):
        return "header"
    if cookie_valid(request.cookies.get(OPERATOR_COOKIE, ""), token):
        return "cookie"
    raise web.HTTPUnauthorized(text="send the operator token as 'Authorization: Bearer TOKEN', or log in at "
                                    "/operator (a login lasts half an hour)", headers={"WWW-Authenticate": "Bearer"})


def require_same_origin(request: web.Request) -> None:
    """A POST a browser sends with the operator's cookie must come from a page of this server: another
    site's page can make the browser send it, but not with this server's Origin. The host alone is
    compared, for a proxy in front may end TLS."""
    origin = request.headers.get("Origin")
    if origin is None:
        raise web.HTTPForbidden(text="this request has no Origin header; send it from the /operator page, or "
                                     "with 'Authorization: Bearer TOKEN'")
    if urlsplit(origin).netloc != request.host:
        raise web.HTTPForbidden(text=f"this request comes from {origin}, not from this server's pages")
