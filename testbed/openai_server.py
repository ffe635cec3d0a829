"""Real local OpenAI-compatible servers for the tests and the benchmarks: an aiohttp app on loopback,
and OpenAI's speech endpoint spoken by a real voice."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading

from aiohttp import web

from testbed.net import free_port


@contextlib.contextmanager
def serving(app: web.Application):
    """``app`` on loopback, in a thread of its own; yields its base URL (…/v1)."""
    port = free_port()
    started = threading.Event()
    state: dict = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(app, shutdown_timeout=1)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        state["loop"], state["runner"] = loop, runner
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        state["loop"].call_soon_threadsafe(state["loop"].stop)
        thread.join(10)


async def _models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": []})


def _encode(audio, rate: int, fmt: str) -> bytes:
    """Mono float32 audio as a file of ``fmt`` (OpenAI's names), or raw 16-bit PCM for "pcm"."""
    import av
    import numpy as np

    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    if fmt == "pcm":
        return pcm.tobytes()
    buffer = io.BytesIO()
    codec = {"wav": "pcm_s16le", "flac": "flac", "mp3": "libmp3lame", "opus": "libopus"}[fmt]
    with av.open(buffer, "w", format={"opus": "ogg"}.get(fmt, fmt)) as container:
        stream = container.add_stream(codec, rate=48000 if fmt == "opus" else rate, layout="mono")
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=stream.rate)
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        frame.sample_rate = rate
        for piece in [*resampler.resample(frame), *resampler.resample(None)]:
            container.mux(stream.encode(piece))
        container.mux(stream.encode(None))
    return buffer.getvalue()


@contextlib.contextmanager
def speech_server(kind: str = "ok"):
    """OpenAI's ``/v1/audio/speech`` on loopback, spoken by the hibari package's own ``Hibari`` (a real
    voice, not Parley's engine), in any of OpenAI's formats but AAC. ``kind`` "500", "html" (200 with a
    web page) or "stall" answer as a broken server would. Yields its base URL (…/v1)."""
    from hibari import Hibari

    voice = Hibari() if kind == "ok" else None

    async def speech(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if kind == "500":
            return web.json_response({"error": {"message": "out of memory"}}, status=500)
        if kind == "html":
            return web.Response(text="<html><body>Welcome to nginx!</body></html>", content_type="text/html")
        if kind == "stall":
            await asyncio.sleep(3600)
        fmt = body.get("response_format", "mp3")
        if body.get("voice") != "heart" or fmt not in ("wav", "flac", "mp3", "opus", "pcm"):
            return web.json_response({"error": {"message": f"unknown voice {body.get('voice')!r} or format {fmt!r}"}},
                                     status=400)
        loop = asyncio.get_running_loop()
        audio = await loop.run_in_executor(None, lambda: voice(body["input"], speed=body.get("speed", 1.0), seed=0))
        data = await loop.run_in_executor(None, _encode, audio, voice.sample_rate, fmt)
        return web.Response(body=data, content_type=f"audio/{fmt}")

    app = web.Application()
    app.router.add_post("/v1/audio/speech", speech)
    app.router.add_get("/v1/models", _models)
    with serving(app) as base:
        yield base
