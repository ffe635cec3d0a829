"""A real `parley serve` on loopback: its stack file, and the process on a free port."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from parley.config import REPO_CONFIGS
from testbed.net import free_port


def write_stack(tmp_path: Path, base: Path = REPO_CONFIGS / "cpu.yaml", **overrides) -> Path:
    """A copy of ``base`` in tmp_path (persona and registry paths made absolute), with edits (dotted keys)."""
    import yaml

    data = yaml.safe_load(base.read_text())
    data["persona"] = str(base.parent / data["persona"])
    data["models"] = str(base.parent / data.get("models", "models.yaml"))
    # A test's call reports stay with the test, not in the user's $PARLEY_HOME.
    data.setdefault("reports", {}).setdefault("folder", str(tmp_path / "reports"))
    for dotted, value in overrides.items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def start_serve(config: str, stdout) -> tuple[subprocess.Popen, int]:
    """`parley serve` on a free loopback port; returns once it answers (the process, the port)."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "parley.cli", "--config", str(config), "serve", "--port",
                               str(port)], stdout=stdout, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return server, port
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                output = server.communicate()[0] or ""
                raise RuntimeError(f"the server did not start: {output[-3000:]}") from None
            time.sleep(0.3)
