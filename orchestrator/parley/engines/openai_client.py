"""What the engines for OpenAI-compatible servers share: the client, and errors that say what to check."""

from __future__ import annotations

import os

import openai

from parley.core.errors import EngineUnavailable, ParleyError


class ServerError(ParleyError):
    """The server answered, but not with what was asked: a 4xx or 5xx, or a reply of the wrong kind."""


class OpenAIClient:
    """The client of a server at ``base_url`` for stage ``stage`` (``llm`` or ``tts``), whose settings are ``config``
    (base_url, api_key_env, timeout_s and model of that stage's section)."""

    def __init__(self, stage: str, config) -> None:
        self.stage = stage
        self.config = config
        self.where = config.base_url.rstrip("/")
        timeout = openai.Timeout(config.timeout_s, connect=min(config.timeout_s, 5.0))
        self.client = openai.OpenAI(base_url=self.where, api_key=os.environ.get(config.api_key_env) or "none",
                                    timeout=timeout, max_retries=0)

    def ready(self) -> bool:
        try:
            self.client.models.list()
        except openai.OpenAIError:
            return False
        return True

    def error(self, exc: Exception, what: str) -> ParleyError:
        """``exc``, raised while asking for ``what`` (an answer, speech), as a message naming the setting to fix."""
        stage, where, model = self.stage, self.where, self.config.model
        server = f"{stage}: the {stage.upper()} server at {where}"
        if isinstance(exc, openai.APITimeoutError) or "Timeout" in type(exc).__name__:
            return EngineUnavailable(f"{server} did not answer within {self.config.timeout_s:g} s ({stage}.timeout_s)")
        if isinstance(exc, openai.APIConnectionError):
            return EngineUnavailable(f"{stage}: cannot reach the {stage.upper()} server at {where} "
                                     f"({exc.__cause__ or exc}); start it, or set {stage}.base_url to its address")
        if not isinstance(exc, openai.OpenAIError):
            return EngineUnavailable(f"{server} broke off its {what} ({type(exc).__name__}: {exc})")
        if isinstance(exc, openai.APIStatusError):
            detail = _detail(exc)
            if exc.status_code in (401, 403):
                hint = f"set ${self.config.api_key_env} to the key it expects"
            elif exc.status_code == 404:
                hint = f"check {stage}.base_url (it usually ends in /v1) and {stage}.model ({model!r})"
            elif exc.status_code >= 500:
                hint = "the server failed: see its log"
            else:
                hint = f"check {stage}.model ({model!r}) and the {stage} settings"
            return ServerError(f"{server} answered {exc.status_code}{': ' + detail if detail else ''}; {hint}")
        return ServerError(f"{server} sent something unexpected: {exc}")

    def close(self) -> None:
        self.client.close()


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        body = body.get("message") or body.get("error") or body
        if isinstance(body, dict):
            body = body.get("message", "")
    return " ".join(str(body or "").split())[:200]
