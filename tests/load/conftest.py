"""A real `parley serve` per module, on loopback, for the load and fault tests."""

import json
import subprocess
import urllib.request
from contextlib import contextmanager

import psutil
import pytest

from tests.conftest import DETERMINISTIC, write_stack
from tests.e2e.live_driver import start_serve

OPERATOR = "load-test-operator"


class Served:
    def __init__(self, process: subprocess.Popen, port: int, log_path) -> None:
        self.process = process
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.ps = psutil.Process(process.pid)

    def get(self, path: str, operator: bool = False) -> dict:
        headers = {"Authorization": f"Bearer {OPERATOR}"} if operator else {}
        request = urllib.request.Request(self.base + path, headers=headers)
        return json.loads(urllib.request.urlopen(request, timeout=10).read())

    def log(self) -> str:
        return self.log_path.read_text()


@contextmanager
def serving(tmp_path, **server):
    settings = {"server.ice_addresses": ["127.0.0.1"], "server.operator_token": OPERATOR,
                "server.calls_per_minute": 600, **{f"server.{k}": v for k, v in server.items()}}
    config = write_stack(tmp_path, **DETERMINISTIC, **settings)
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        process, port = start_serve(config, log)
        try:
            yield Served(process, port, log_path)
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("serve"), max_sessions=6, connect_timeout_s=3) as served:
        yield served
