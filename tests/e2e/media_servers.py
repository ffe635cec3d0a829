"""Janus and nginx-rtmp for the end-to-end tests: the deploy/ configs, copied into a temporary folder
with temporary paths, started in the foreground and waited for. Janus gathers on the namespace's
veth end (testbed/net.py says why).
"""

from __future__ import annotations

import getpass
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from testbed.net import JANUS_INTERFACE

REPO = Path(__file__).resolve().parents[2]


def _start(command: list[str], log: Path, check, what: str, seconds: float = 20) -> subprocess.Popen:
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text()[-2000:]}")
        try:
            check()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{what} did not start in {seconds} s: {log.read_text()[-2000:]}")


def start_janus(folder: Path) -> subprocess.Popen:
    conf = folder / "janus"
    conf.mkdir()
    for source in (REPO / "deploy" / "janus").glob("*.jcfg"):
        text = source.read_text().replace('configs_folder = "/etc/janus"', f'configs_folder = "{conf}"')
        (conf / source.name).write_text(text)
    return _start(["janus", "-F", str(conf), "-C", str(conf / "janus.jcfg"),
                   f"--ice-enforce-list={JANUS_INTERFACE}", "--disable-colors"], folder / "janus.log",
                  lambda: urllib.request.urlopen("http://127.0.0.1:8088/janus/info", timeout=1), "janus")


def start_nginx(folder: Path, rtmp_port: int = 1935, http_port: int = 8089) -> subprocess.Popen:
    hls = folder / "hls"
    hls.mkdir()
    text = (REPO / "deploy" / "nginx" / "nginx.conf").read_text()
    text = text.replace("/tmp/parley-hls", str(hls)).replace("/tmp/parley-nginx", str(folder / "nginx"))
    text = text.replace("127.0.0.1:1935", f"127.0.0.1:{rtmp_port}").replace("127.0.0.1:8089", f"127.0.0.1:{http_port}")
    # Workers run as nobody by default and could not write into the tests' private temporary folder.
    text = f"user {getpass.getuser()};\n" + text
    config = folder / "nginx.conf"
    config.write_text(text)
    return _start(["nginx", "-c", str(config), "-e", "stderr"], folder / "nginx.log",
                  lambda: socket.create_connection(("127.0.0.1", rtmp_port), timeout=1).close(), "nginx")
