"""A real `tritonserver` serving model_repository/cpu on loopback, started once per test session.

Tests take ``triton_server`` (session scope; a running ``TritonServer``: ``url`` for gRPC, ``kill()``
and ``restart()`` for fault tests; a test that leaves it dead gets it restarted for the next one).
The repository is a copy in a temporary folder with a random-weight Wav2Lip exported into it,
since the real weights are the user's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.serve import write_stack
from testbed.triton_server import ROOT, TritonServer
from tests.conftest import DETERMINISTIC

# The settings the Triton models serve: the deterministic default stack with the voice Triton serves
# (a Piper voice; the default avatar's own, hibari's, is played in-process).
SERVED = {**DETERMINISTIC, "tts.voice": "piper-en_US-joe-medium"}


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    """Here the default stack speaks with the served voice, so in-process and served turns compare."""
    from parley.config import load_settings

    return load_settings(write_stack(tmp_path_factory.mktemp("stack"), **SERVED))


def cpu_repository(dest: Path) -> Path:
    """model_repository/cpu copied to ``dest``, with a random-weight Wav2Lip as the lipsync model."""
    shutil.copytree(ROOT / "model_repository" / "cpu", dest, ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "export" / "wav2lip.py"), "--random-weights", "--out",
         str(dest / "lipsync" / "1" / "model.onnx")],
        capture_output=True, text=True, cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"export/wav2lip.py failed:\n{proc.stderr}")
    return dest


@pytest.fixture(scope="session")
def triton_server(tmp_path_factory) -> Iterator[TritonServer]:
    work = tmp_path_factory.mktemp("triton")
    server = TritonServer(repository=cpu_repository(work / "repository"), log=work / "tritonserver.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _triton_server_up(request):
    """A test that uses the server finds it running, even if the test before it killed it."""
    if "triton_server" in request.fixturenames:
        server = request.getfixturevalue("triton_server")
        if not server.running:
            server.start()
