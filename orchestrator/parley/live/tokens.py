"""Signed session links: a caller token may speak and type; a viewer token may only watch."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time


class TokenError(ValueError):
    pass


class Tokens:
    def __init__(self, secret: bytes | None = None, ttl_s: float = 12 * 3600) -> None:
        # A fresh secret per server start unless one is configured: links die with the server.
        self.secret = secret or secrets.token_bytes(32)
        self.ttl_s = ttl_s

    def issue(self, session: str, role: str) -> str:
        body = base64.urlsafe_b64encode(json.dumps({"s": session, "r": role, "e": time.time() + self.ttl_s}).encode())
        mac = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        return f"{body.decode()}.{mac}"

    def check(self, token: str, role: str | None = None) -> str:
        """The session id the token grants, if it is genuine, unexpired and (if given) of ``role``."""
        try:
            body, mac = token.rsplit(".", 1)
            good = hmac.compare_digest(hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest(), mac)
            claims = json.loads(base64.urlsafe_b64decode(body)) if good else None
        except (ValueError, AttributeError):
            claims = None
        if not claims:
            raise TokenError("invalid session token")
        if claims["e"] < time.time():
            raise TokenError("session token expired")
        if role is not None and claims["r"] != role:
            raise TokenError(f"this link is for a {claims['r']}, not a {role}")
        return claims["s"]
