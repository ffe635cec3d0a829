"""Beyond one machine: two `parley serve` processes share one tritonserver behind the proxy of
docker-compose.yml's scale profile (deploy/proxy, real nginx, rendered as its container renders it).
Each call stays on the orchestrator that holds it; both orchestrators' replies come from Triton."""

import asyncio
import os
import subprocess
import time
import urllib.request

import pytest

from testbed.live_client import Caller, serving
from testbed.net import free_port
from testbed.triton_server import ROOT
from tests.served.conftest import SERVED

pytestmark = pytest.mark.triton


def inferences(triton_server, model: str) -> int:
    url = f"{triton_server.http_url}/v2/models/{model}/stats"
    import json

    stats = json.loads(urllib.request.urlopen(url, timeout=10).read())["model_stats"][0]
    return int(stats["inference_count"])


def proxy(tmp_path, nodes: dict[str, int]):
    """deploy/proxy/render in front of the two orchestrators, with a self-signed certificate."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    port = free_port()
    env = {**os.environ, "PARLEY_PROXY_PORT": str(port), "PARLEY_NODE_A": f"127.0.0.1:{nodes['a']}",
           "PARLEY_NODE_B": f"127.0.0.1:{nodes['b']}", "PARLEY_TLS_CERT": str(cert), "PARLEY_TLS_KEY": str(key),
           "PARLEY_PROXY_RUN": str(tmp_path / "run")}
    log = open(tmp_path / "proxy.log", "w")
    process = subprocess.Popen([str(ROOT / "deploy/proxy/render")], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while subprocess.run(["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"], capture_output=True).returncode:
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError((tmp_path / "proxy.log").read_text())
        time.sleep(0.2)
    return process, port


def test_two_orchestrators_share_one_triton_behind_the_proxy(triton_server, tmp_path):
    engines = {f"{stage}.engine": "triton" for stage in ("llm", "tts", "asr")}
    stack = {**SERVED, **engines, "triton": {"url": triton_server.url, "fallback": False}}
    shared = {"token_secret": "one-secret-for-both", "trusted_proxies": ["127.0.0.1"], "max_sessions": 4}
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    with serving(tmp_path / "a", stack, node="a", **shared) as a, serving(tmp_path / "b", stack, node="b", **shared) as b:
        process, port = proxy(tmp_path, {"a": a.port, "b": b.port})
        try:
            before = inferences(triton_server, "llm")

            async def scenario():
                callers = []
                while {c.node for c in callers} != {"a", "b"} and len(callers) < 6:
                    callers.append(await Caller(f"https://127.0.0.1:{port}").connect())
                for caller in callers:
                    caller.type("Where is the library?")
                answers = await asyncio.gather(*(c.answered(1, timeout=180) for c in callers))
                held = {"a": set(a.get("/api/stats", operator=True)["sessions"]),
                        "b": set(b.get("/api/stats", operator=True)["sessions"])}
                for caller in callers:
                    await caller.close()
                return callers, answers, held

            callers, answers, held = asyncio.run(asyncio.wait_for(scenario(), 300))
        finally:
            process.terminate()
            process.wait(10)
    assert {c.node for c in callers} == {"a", "b"}, "the proxy sent every new caller to one orchestrator"
    for caller, answer in zip(callers, answers):
        assert answer[0]["reply"]
        assert caller.session["session"] in held[caller.node]  # the offer followed the session to its node
        assert caller.session["viewer_url"].endswith(f"&node={caller.node}")
    assert inferences(triton_server, "llm") >= before + len(callers)  # every reply came from Triton
