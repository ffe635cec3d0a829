"""``parley doctor``: what this machine has for running Parley, as a list of checks."""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from parley.config import Settings
from parley.live.placement import placements
from parley.models.store import ModelStore

# Ports the stack uses by default: web app, Janus HTTP/WebSocket, RTMP, Triton HTTP/gRPC/metrics.
PORTS = {8080: "web app (planned: parley serve)", 8088: "janus http", 8188: "janus websocket", 1935: "rtmp",
         8000: "triton http", 8001: "triton grpc", 8002: "triton metrics"}
TOOLS = {"ffmpeg": "video files and RTMP", "chromium": "browser tests", "janus": "WebRTC broadcast",
         "nginx": "RTMP/HLS fallback", "tritonserver": "scale path", "nvidia-smi": "NVIDIA GPU"}
MODULES = {"llama_cpp": "LLM (llama.cpp)", "piper": "TTS (Piper)", "onnxruntime": "ONNX models",
           "faster_whisper": "ASR (faster-whisper)", "cv2": "2D face renderer (OpenCV)",
           "mediapipe": "avatar set-up (face landmarks)", "torch": "Wav2Lip export",
           "sounddevice": "local playback", "tritonclient": "Triton client"}


@dataclass(frozen=True)
class Check:
    group: str
    name: str
    ok: bool
    detail: str


def _cpu() -> str:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and ":" in line:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    simd = ",".join(f for f in ("avx2", "avx512f", "fma", "f16c") if f in flags) or "no AVX2"
    return f"{model}; {os.cpu_count()} cores; {simd}"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def run_checks(store: ModelStore) -> list[Check]:
    checks = [
        Check("machine", "cpu", True, _cpu()),
        Check("machine", "memory", True, _memory()),
    ]
    gpus = sorted(p.name for p in Path("/dev").glob("nvidia[0-9]*"))
    checks.append(Check("machine", "gpu", bool(gpus), ", ".join(gpus) or "none (the CPU stack is used)"))
    for name in store.registry.names():
        state = store.state(name)
        detail = str(state.path) if state.ok else ("; ".join(state.problems) or "not fetched")
        checks.append(Check("models", name, state.ok, detail))
    for module, use in MODULES.items():
        checks.append(Check("python", module, importlib.util.find_spec(module) is not None, use))
    for tool, use in TOOLS.items():
        path = shutil.which(tool)
        checks.append(Check("tools", tool, path is not None, f"{use}: {path or 'not found'}"))
    for port, use in PORTS.items():
        free = _port_free(port)
        checks.append(Check("ports", str(port), free, f"{use}: {'free' if free else 'in use'}"))
    return checks


def stage_checks(settings: Settings) -> list[Check]:
    """Where each stage of this stack would run now (Triton is asked), and why; a stage on its fallback
    or with nowhere to run is not ok."""
    return [Check("stages", p.stage, p.runs not in ("fallback", "none"), f"{p.label} ({p.engine}): {p.why}")
            for p in placements(settings)]
