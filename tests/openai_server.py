"""Real local OpenAI-compatible servers for the tests: llama-cpp-python's own server serving the
default GGUF, and a small aiohttp server that answers the way a broken one would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from aiohttp import web

from testbed.net import free_port
from testbed.openai_server import _models, serving

START_TIMEOUT_S = 120
MODEL_ALIAS = "local-gemma"


@contextlib.contextmanager
def llama_cpp_server(model_file: Path, log_path: Path):
    """``python -m llama_cpp.server`` on loopback; yields its base URL (…/v1)."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_file), "--model_alias", MODEL_ALIAS,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "2"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}/v1"
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"llama_cpp.server exited with {process.returncode}: {log_path.read_text()}")
                try:
                    urllib.request.urlopen(f"{base}/models", timeout=2).read()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"llama_cpp.server not up in {START_TIMEOUT_S} s") from None
                    time.sleep(0.3)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def broken_server(kind: str):
    """A server on loopback whose completion endpoints answer ``kind``: "500" (an error), "json" (a
    whole answer, not a stream) or "stall" (headers, then nothing). Yields its base URL (…/v1)."""

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        if kind == "500":
            return web.json_response({"error": {"message": "CUDA out of memory"}}, status=500)
        if kind == "json":
            return web.json_response({"id": "x", "object": "text_completion", "choices": [
                {"index": 0, "text": "Hello there.", "finish_reason": "stop"}]})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunk = {"id": "x", "object": "text_completion", "choices": [{"index": 0, "text": " Hello"}]}
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await asyncio.sleep(3600)
        return response

    app = web.Application()
    app.router.add_post("/v1/completions", answer)
    app.router.add_post("/v1/chat/completions", answer)
    app.router.add_get("/v1/models", _models)
    with serving(app) as base:
        yield base
