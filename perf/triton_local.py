"""A Triton server for the benchmarks: the tests' launcher (testbed/triton_server.py: scripts/tritonserver-cpu
on free loopback ports), stopped on exit.

    repository = benchmark_repository(tmp_dir)        # model_repository/cpu + a random-weight Wav2Lip
    with local_triton(repository, models=["lipsync"]) as server:
        server.url  # "127.0.0.1:PORT" (gRPC) for tritonclient.grpc and perf_analyzer -i grpc
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from parley.models.store import parley_home
from perf.harness import REPO
from testbed.triton_server import TritonServer

CPU_REPOSITORY = REPO / "model_repository" / "cpu"


@contextmanager
def local_triton(repository: Path, models: Sequence[str] | None = None,
                 log: Path | None = None) -> Iterator[TritonServer]:
    """Start Triton with `repository`; with `models`, load only those (the others cost memory and CPU)."""
    log = log or Path(tempfile.mkdtemp(prefix="parley-triton-")) / "tritonserver.log"
    server = TritonServer(repository=repository, log=log, models=tuple(models or ()))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def random_wav2lip() -> Path:
    """Wav2Lip's architecture with random weights as ONNX (made once; needs torch): speed, never quality."""
    onnx_file = parley_home() / "perf" / "wav2lip-random.onnx"
    if not onnx_file.is_file():
        onnx_file.parent.mkdir(parents=True, exist_ok=True)
        partial = onnx_file.with_suffix(".partial.onnx")
        subprocess.run([sys.executable, str(REPO / "export" / "wav2lip.py"), "--random-weights", "--out", str(partial)],
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
