"""A Triton server for the benchmarks: scripts/tritonserver-cpu on loopback, on free ports, stopped on exit.

    repository = benchmark_repository(tmp_dir)        # model_repository/cpu + a random-weight Wav2Lip
    with local_triton(repository, models=["lipsync"]) as server:
        server.grpc_url  # "127.0.0.1:PORT" for tritonclient.grpc and perf_analyzer -i grpc
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from parley.modelstore import parley_home

ROOT = Path(__file__).resolve().parents[1]
CPU_REPOSITORY = ROOT / "model_repository" / "cpu"


@dataclass(frozen=True)
class LocalTriton:
    http_port: int
    grpc_port: int
    metrics_port: int
    log: Path

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


def _free_ports(count: int) -> list[int]:
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _ready(http_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v2/health/ready", timeout=2) as reply:
            return reply.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextmanager
def local_triton(repository: Path, models: Sequence[str] | None = None, log: Path | None = None,
                 start_timeout_s: float = 300.0) -> Iterator[LocalTriton]:
    """Start Triton with `repository`; with `models`, load only those (the others cost memory and CPU)."""
    http, grpc, metrics = _free_ports(3)
    log = log or Path(os.environ.get("TMPDIR", "/tmp")) / f"parley-triton-{http}.log"
    cmd = [str(ROOT / "scripts" / "tritonserver-cpu"), f"--model-repository={repository}",
           "--http-address=127.0.0.1", f"--http-port={http}", "--grpc-address=127.0.0.1", f"--grpc-port={grpc}",
           "--metrics-address=127.0.0.1", f"--metrics-port={metrics}"]
    if models:
        cmd += ["--model-control-mode=explicit", *(f"--load-model={m}" for m in models)]
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + start_timeout_s
        while not _ready(http):
            if process.poll() is not None:
                raise RuntimeError(f"tritonserver exited with {process.returncode}; log: {log}\n"
                                   + log.read_text(errors="replace")[-3000:])
            if time.monotonic() > deadline:
                raise TimeoutError(f"tritonserver not ready after {start_timeout_s:.0f} s; log: {log}")
            time.sleep(0.5)
        yield LocalTriton(http, grpc, metrics, log)
    finally:
        # The Python-backend stubs are children of tritonserver: stop the whole group it leads.
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def random_wav2lip() -> Path:
    """Wav2Lip's architecture with random weights as ONNX (made once; needs torch): speed, never quality."""
    onnx_file = parley_home() / "perf" / "wav2lip-random.onnx"
    if not onnx_file.is_file():
        onnx_file.parent.mkdir(parents=True, exist_ok=True)
        partial = onnx_file.with_suffix(".partial.onnx")
        subprocess.run([sys.executable, str(ROOT / "export" / "wav2lip.py"), "--random-weights", "--out", str(partial)],
                       check=True, capture_output=True)
        partial.replace(onnx_file)
    return onnx_file


def benchmark_repository(into: Path, base: Path = CPU_REPOSITORY) -> Path:
    """`base` linked model by model into `into`, with the random-weight Wav2Lip as lipsync's model.onnx.

    Wav2Lip's real weights are the user's and are never in the repository; the benchmark must not
    leave random ones where a server would serve them either, so it builds its own repository.
    """
    into.mkdir(parents=True, exist_ok=True)
    for model in sorted(p for p in base.iterdir() if (p / "config.pbtxt").is_file()):
        if model.name != "lipsync":
            (into / model.name).symlink_to(model, target_is_directory=True)
            continue
        (into / model.name / "1").mkdir(parents=True)
        (into / model.name / "config.pbtxt").symlink_to(model / "config.pbtxt")
        (into / model.name / "1" / "model.py").symlink_to(model / "1" / "model.py")
        (into / model.name / "1" / "model.onnx").symlink_to(random_wav2lip())
    return into
