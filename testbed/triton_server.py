"""A real `tritonserver` (scripts/tritonserver-cpu) on free loopback ports, for the Triton tests and
the Triton benchmarks: started, killed as in a crash, stopped, restarted on the same ports."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from parley.config import REPO_CONFIGS
from testbed.net import free_port

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "scripts" / "tritonserver-cpu"
START_TIMEOUT_S = 240  # seven models load in ~15 s on 2 idle cores; far longer when they are busy


class TritonStartError(RuntimeError):
    pass


@dataclass
class TritonServer:
    repository: Path
    log: Path
    stack: Path = REPO_CONFIGS / "triton-cpu.yaml"  # the stack config model_repository/cpu was generated from
    ports: dict[str, int] = field(default_factory=dict)
    # Load only these models (the others cost memory and CPU); empty: the whole repository.
    models: tuple[str, ...] = ()
    # More of tritonserver's options, e.g. --exit-on-error=false to serve what loads.
    options: tuple[str, ...] = ()
    process: subprocess.Popen | None = None
    started_in_s: float | None = None

    @property
    def url(self) -> str:
        """The gRPC address (what tritonclient.grpc and Parley's Triton engines take)."""
        return f"127.0.0.1:{self.ports['grpc']}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start on the same ports as before (clients keep their URL), or on free ones the first time."""
        fresh = not self.ports
        for attempt in range(3 if fresh else 1):
            if fresh:  # a free port can be taken by someone else before the server binds it: try others
                self.ports = {"http": free_port(), "grpc": free_port(), "metrics": free_port()}
            try:
                return self._start_once()
            except TritonStartError as exc:
                if "already in use" not in str(exc) or attempt == (2 if fresh else 0):
                    raise

    def _start_once(self) -> None:
        began = time.monotonic()
        args = [str(LAUNCHER), f"--model-repository={self.repository}"]
        for kind, port in self.ports.items():
            args += [f"--{kind}-address=127.0.0.1", f"--{kind}-port={port}"]
        if self.models:
            args += ["--model-control-mode=explicit", *(f"--load-model={m}" for m in self.models)]
        args += self.options
        # The Python backend's shared memory outlives a killed server: named per server, so kill() can free it.
        args.append(f"--backend-config=python,shm-region-prefix-name={self._shm_prefix}")
        with self.log.open("ab") as log:
            # Its own process group: kill() takes the Python-backend stubs down with the server.
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        while time.monotonic() - began < START_TIMEOUT_S:
            if self.process.poll() is not None:
                raise TritonStartError(f"tritonserver exited ({self.process.returncode}):\n{self.log_tail()}")
            if self._ready():
                self.started_in_s = time.monotonic() - began
                return
            time.sleep(0.2)
        self.kill()
        raise TritonStartError(f"tritonserver not ready after {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.http_url}/v2/health/ready", timeout=1) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        """Gone at once, as in a crash: SIGKILL to the server and its stubs."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
        for region in Path("/dev/shm").glob(f"{self._shm_prefix}*"):
            region.unlink(missing_ok=True)

    @property
    def _shm_prefix(self) -> str:
        return f"parley-triton-{self.ports.get('grpc', 0)}-"

    def stop(self) -> None:
        """Shut down cleanly (models unloaded, stubs told to exit), killing what is left after 30 s."""
        if self.running:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
