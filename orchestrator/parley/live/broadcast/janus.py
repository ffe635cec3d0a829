"""A small asyncio client for the Janus Gateway HTTP API (the VideoRoom plugin is all Parley uses).

Janus answers some plugin requests at once and others later, as events; events (and the
plugin's own notices, such as a viewer's peer hanging up) are collected with one long poll per
Janus session, which also keeps that session alive.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

import aiohttp

from parley.core.errors import ParleyError

log = logging.getLogger("parley.janus")


class JanusError(ParleyError):
    """Janus refused a request or could not be reached."""


class JanusSession:
    def __init__(self, http: aiohttp.ClientSession, url: str, session_id: int) -> None:
        self._http = http
        self.url = f"{url}/{session_id}"
        self._waiting: dict[str, asyncio.Future] = {}
        self._notices: dict[int, Callable[[dict], None]] = {}
        self._poll = asyncio.ensure_future(self._long_poll())

    @classmethod
    async def create(cls, url: str, timeout: float = 10.0) -> "JanusSession":
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout))
        try:
            reply = await _post(http, url, {"janus": "create"}, timeout)
        except BaseException:
            await http.close()
            raise
        return cls(http, url, reply["data"]["id"])

    async def attach(self, plugin: str, on_notice: Callable[[dict], None] | None = None) -> "JanusHandle":
        reply = await _post(self._http, self.url, {"janus": "attach", "plugin": plugin})
        handle = JanusHandle(self, reply["data"]["id"])
        if on_notice is not None:
            self._notices[handle.id] = on_notice
        return handle

    async def close(self) -> None:
        self._poll.cancel()
        try:
            await _post(self._http, self.url, {"janus": "destroy"}, timeout=3)
        except (JanusError, asyncio.TimeoutError):
            pass  # Janus is gone or already reaped the session: nothing left to free there
        finally:
            await self._http.close()
            for future in self._waiting.values():
                future.cancel()

    async def _long_poll(self) -> None:
        retry_s = 1.0
        while True:
            try:
                async with self._http.get(self.url, params={"maxev": "10"},
                                          timeout=aiohttp.ClientTimeout(total=60)) as response:
                    events = await response.json(content_type=None)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                log.warning("Janus long poll failed (%s); retrying in %.0f s", exc, retry_s)
                await asyncio.sleep(retry_s)
                retry_s = min(retry_s * 2, 30.0)  # Janus is down: do not flood the log while it is
                continue
            retry_s = 1.0
            for event in events if isinstance(events, list) else [events]:
                self._dispatch(event)

    def _dispatch(self, event: dict) -> None:
        future = self._waiting.pop(event.get("transaction", ""), None)
        if future is not None and not future.done():
            future.set_result(event)
        elif (notice := self._notices.get(event.get("sender"))) is not None:
            notice(event)


class JanusHandle:
    def __init__(self, session: JanusSession, handle_id: int) -> None:
        self.session = session
        self.id = handle_id
        self.url = f"{session.url}/{handle_id}"

    async def request(self, body: dict) -> dict:
        """A plugin request Janus answers at once (create, destroy, exists …): the plugin's data."""
        reply = await _post(self.session._http, self.url, {"janus": "message", "body": body})
        return _plugin_data(reply)

    async def message(self, body: dict, jsep: dict | None = None, timeout: float = 15.0) -> tuple[dict, dict | None]:
        """A plugin request answered by a later event (join, start …): the event's data and JSEP."""
        transaction = secrets.token_hex(8)
        future = asyncio.get_running_loop().create_future()
        self.session._waiting[transaction] = future
        message = {"janus": "message", "body": body, "transaction": transaction}
        if jsep is not None:
            message["jsep"] = jsep
        try:
            await _post(self.session._http, self.url, message, transaction=transaction)
            event = await asyncio.wait_for(future, timeout)
        finally:
            self.session._waiting.pop(transaction, None)
        return _plugin_data(event), event.get("jsep")

    async def detach(self) -> None:
        self.session._notices.pop(self.id, None)
        try:
            await _post(self.session._http, self.url, {"janus": "detach"}, timeout=3)
        except (JanusError, asyncio.TimeoutError):
            pass  # already gone with its session


async def _post(http: aiohttp.ClientSession, url: str, message: dict, timeout: float = 10.0,
                transaction: str | None = None) -> dict:
    message = {**message, "transaction": transaction or secrets.token_hex(8)}
    try:
        async with http.post(url, json=message, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            reply = await response.json(content_type=None)
    except aiohttp.ClientError as exc:
        raise JanusError(f"cannot reach Janus at {url}: {exc}; is it running (see docs/live.md)?") from exc
    if reply.get("janus") == "error":
        raise JanusError(f"Janus refused {message['janus']}: {reply['error'].get('reason')}")
    return reply


def _plugin_data(reply: dict) -> dict:
    data = reply.get("plugindata", {}).get("data", {})
    if "error" in data:
        raise JanusError(f"Janus VideoRoom: {data['error']} (code {data.get('error_code')})")
    return data
