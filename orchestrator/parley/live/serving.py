"""``parley serve``'s process: it listens, drains on SIGTERM, then stops.

An orchestrator being replaced (a rolling update, a node scaled down) is sent SIGTERM. It stops
taking calls at once (``/readyz`` fails, new callers are told when to come back) while the calls in
progress go on until they end or ``server.drain_s`` runs out; then it closes what is left and exits
0. A second SIGTERM or Ctrl-C ends the calls at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl

from aiohttp import web

from parley.assemble import Parley
from parley.live.app import Server
from parley.live.memory import keep_memory_flat
from parley.live.protect import AccessLog

log = logging.getLogger("parley.live")
DRAIN_POLL_S = 0.5


def _offer_only(addresses: list[str]) -> None:
    """aioice has no setting for which interfaces to gather host candidates on: replace its lookup."""
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [
        a for a in addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]


def serve(parley: Parley, host: str | None = None, port: int | None = None) -> None:
    keep_memory_flat()
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
    app = server.app()

    async def close_engines(app: web.Application) -> None:
        parley.close()

    app.on_cleanup.append(close_engines)
    scheme = "https" if ssl_context else "http"
    print(f"Parley: {settings.persona.name} at {scheme}://{host}:{port}/ "
          f"(at most {server.admission.max_sessions} calls at once)", flush=True)
    asyncio.run(_run(server, app, host, port, ssl_context, cfg.drain_s))


async def _run(server: Server, app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None,
               drain_s: float) -> None:
    # aiohttp's own signal handling stops at the first SIGTERM, ending every call: these are ours.
    runner = web.AppRunner(app, handle_signals=False, access_log_class=AccessLog, shutdown_timeout=5)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
        await _until_drained(server, drain_s)
    finally:
        await runner.cleanup()  # closes the calls still in progress, then the engines


async def _until_drained(server: Server, drain_s: float) -> None:
    """Serve until a signal; then drain until no call is left, ``drain_s`` has passed, or a second
    signal comes."""
    loop = asyncio.get_running_loop()
    signals: asyncio.Queue[signal.Signals] = asyncio.Queue()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, signals.put_nowait, sig)
    first = await signals.get()
    server.drain()
    log.info("%s: draining: no new calls; %d in progress may go on for up to %g s (a second signal ends them now)",
             first.name, len(server.held()), drain_s)
    emptied = asyncio.ensure_future(_emptied(server))
    second = asyncio.ensure_future(signals.get())
    done, pending = await asyncio.wait({emptied, second}, timeout=drain_s, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if emptied in done:
        log.info("drained: no call left; stopping")
    else:
        why = f"{second.result().name} again" if second in done else f"{drain_s:g} s have passed"
        log.info("%s: closing the %d call(s) still in progress and stopping", why, len(server.held()))


async def _emptied(server: Server) -> None:
    while server.held():
        await asyncio.sleep(DRAIN_POLL_S)
