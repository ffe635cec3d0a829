"""Capacity on paper: the nodes and GPUs N callers at once need, from measured per-call costs.

Inputs, each the JSON report a benchmark wrote (the newest under perf/results/ unless named):
- ``--capacity``: ``perf.bench_capacity`` on the CPU stack: the most callers one machine serves at full
  frame rate, with the server's CPU and memory at each count. Required.
- ``--gpu``: ``perf.gpu_check`` on a GPU: sessions per GPU of the face network at a frame rate (p99
  within a frame). Without it the GPU column says what is missing.
Measured by this script, each run: the orchestrator's own CPU per call on the GPU stack, where the
faces, the LLM and speech run on Triton: the avatar's head drawn and Wav2Lip's mouth pasted on it, the
network's request packed as for gRPC (its answer a stand-in: the GPU's part), each frame encoded with
aiortc's VP8 encoder and the audio with Opus, as a call does. Network and kernel time are not in it.
It prints every assumption, then, for each count of callers, the CPU-only nodes, and for the GPU
stack the orchestrator nodes and the GPUs, and which of them binds first.

    .venv/bin/python -m perf.capacity_model [--callers 10 100 1000] [--node-cores 16] [--node-memory-gb 64]
"""

from __future__ import annotations

import fractions
import json
import math
import time
from pathlib import Path

import av
import numpy as np

from perf.harness import RESULTS, arguments, load, machine, report_path, save

# Of a node's cores and memory, what calls may use: the rest is the kubelet's, the OS's and headroom
# for a call's bursts (a reply's first clause while the face renders).
USABLE = 0.8
SPOKEN = ("Welcome! The main library is in Hartley Hall, open from eight in the morning until ten at night. "
          "Campus tours leave from Admissions at eleven and at two.")
FULL_RATE = 0.9  # a count of callers is served at full quality while its slowest caller gets this share of the rate


def newest(pattern: str) -> Path | None:
    found = sorted(RESULTS.glob(pattern))
    return found[-1] if found else None


def cpu_stack(report: dict) -> dict:
    """Per-call costs on the CPU stack: the most callers at full rate on the measured machine, and the
    cores and memory each takes (memory: the slope of the server's memory over the counts measured)."""
    rows = sorted(report["rows"], key=lambda r: r["callers"])
    top = rows[0]["video_fps"]["mean"]
    full = [r for r in rows if r["video_fps"]["min"] >= FULL_RATE * top]
    if not full:
        raise SystemExit("bench_capacity's report has no count of callers served at full rate: rerun it")
    most = full[-1]
    cores = report["machine"]["cpu_count"]
    # What each caller adds to memory does not depend on the frame rate: every count measured tells.
    per_call_mb = float(np.polyfit([r["callers"] for r in rows], [r["rss_mb"] for r in rows], 1)[0]) \
        if len(rows) > 1 else 0.0
    return {"callers_at_full_rate": most["callers"], "machine_cores": cores,
            "cores_per_call": cores / most["callers"], "memory_per_call_mb": round(per_call_mb, 1),
            "server_base_mb": round(rows[0]["rss_mb"] - per_call_mb, 1), "fps": top}


class PackedRequest:
    """The lip-sync network as the orchestrator sees it on the GPU stack: each call's inputs packed
    into a gRPC request as ``TritonNetwork`` sends them; the GPU's answer (a blank mouth) is free."""

    where = "a stand-in for Triton"

    def __call__(self, **inputs: np.ndarray) -> np.ndarray:
        from tritonclient.grpc import InferInput

        for name, array in inputs.items():
            InferInput(name, list(array.shape), "FP32").set_data_from_numpy(array.astype(np.float32))
        return np.zeros((len(inputs["face"]), 3, 96, 96), np.float32)


def orchestrator_cost(parley, seconds: float = 5.0) -> dict:
    """CPU seconds a second one call costs the orchestrator when the faces, the LLM and speech run on
    Triton: the avatar's head drawn and Wav2Lip's mouth pasted on it (the network a stand-in), each
    frame encoded with VP8 and the audio with Opus, as a call does."""
    from aiortc.codecs import get_encoder
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    from parley.core.speech import SpokenChunk
    from parley.face.avatars import load_avatar
    from parley.face.warp import WarpFace
    from parley.face.wav2lip.renderer import Wav2LipFace
    from parley.speak.visemes import CoarticulatedVisemes

    settings = parley.settings
    fps = settings.stack.visemes.fps
    speech = parley.engines.tts.synthesize(SPOKEN)
    chunk = SpokenChunk(speech, CoarticulatedVisemes.from_config(settings.stack.visemes).track(speech))
    face = Wav2LipFace(PackedRequest(), WarpFace(load_avatar(settings.stack.face.avatar), fps=fps))
    video = get_encoder(RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000))
    audio = get_encoder(RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2))
    n = int(min(seconds, speech.audio.size / speech.sample_rate) * fps)
    cpu0 = time.process_time()
    for i in range(n):
        frame = av.VideoFrame.from_ndarray(face.frame(i / fps, chunk), format="rgb24")
        frame.pts, frame.time_base = i, fractions.Fraction(1, int(fps))
        video.encode(frame)
    for i in range(int(n / fps * 50)):  # 20 ms Opus frames
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 960 * 2), np.int16), format="s16", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = 48000, i * 960, fractions.Fraction(1, 48000)
        audio.encode(frame)
    return {"size": face.size, "fps": fps, "seconds": round(n / fps, 2),
            "cores_per_call": round((time.process_time() - cpu0) / (n / fps), 3)}


def gpu_sessions(report: dict, network: str, fps: float) -> int | None:
    rows = [r for r in report.get("sessions", []) if isinstance(r, dict)
            and r.get("network") == network and r.get("fps") == fps]
    return rows[0]["sessions_p99_within_a_frame"] if rows else None


def plan(callers: int, cpu: dict, orchestrator: dict, per_gpu: int | None, cores: int, memory_gb: float,
         max_sessions: int) -> dict:
    """Nodes (CPU-only stack), orchestrator pods and nodes and GPUs (GPU stack) for ``callers``."""
    def per_node(cores_per_call: float) -> int:
        by_cpu = math.floor(cores * USABLE / cores_per_call)
        by_memory = math.floor((memory_gb * 1024 * USABLE - cpu["server_base_mb"]) / max(cpu["memory_per_call_mb"], 1))
        return max(1, min(by_cpu, by_memory))

    cpu_nodes = math.ceil(callers / per_node(cpu["cores_per_call"]))
    gpu_side = per_node(orchestrator["cores_per_call"])
    row = {"callers": callers, "cpu_only_nodes": cpu_nodes,
           "gpu_stack_orchestrator_pods": math.ceil(callers / max_sessions),
           "gpu_stack_orchestrator_nodes": math.ceil(callers / gpu_side), "gpus": None, "binds_first": None}
    if per_gpu:
        row["gpus"] = math.ceil(callers / per_gpu)
        row["binds_first"] = "GPU" if per_gpu < gpu_side else "orchestrator CPU"
    return row


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--capacity", type=Path, help="bench_capacity's JSON (default: the newest)")
    parser.add_argument("--gpu", type=Path, help="gpu_check's JSON (default: the newest, if any)")
    parser.add_argument("--network", default="wav2lip", choices=["wav2lip", "musetalk"])
    parser.add_argument("--callers", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--node-cores", type=int, default=16)
    parser.add_argument("--node-memory-gb", type=float, default=64)
    parser.add_argument("--max-sessions", type=int, default=8, help="calls per orchestrator pod on the GPU stack")
    args = parser.parse_args()
    capacity = args.capacity or newest("capacity-*.json")
    if capacity is None:
        raise SystemExit("no bench_capacity report: run `.venv/bin/python -m perf.bench_capacity --max 3` first")
    gpu = args.gpu or newest("gpu_check*.json") or newest("*/gpu_check.json")
    cpu = cpu_stack(json.loads(capacity.read_text()))
    orchestrator = orchestrator_cost(load(args))
    size = orchestrator["size"]
    per_gpu = gpu_sessions(json.loads(gpu.read_text()), args.network, 30.0) if gpu else None
    print(f"CPU stack ({capacity.name}): {cpu['callers_at_full_rate']} callers at full rate on "
          f"{cpu['machine_cores']} cores: {cpu['cores_per_call']:.2f} cores and {cpu['memory_per_call_mb']} MB "
          f"a call over a {cpu['server_base_mb']} MB server")
    print(f"GPU stack orchestrator (measured now, {size}x{size} at {orchestrator['fps']:g} fps, VP8 + Opus + "
          f"a request a frame): {orchestrator['cores_per_call']} cores a call; the server's own memory as above")
    print(f"GPU: {per_gpu} {args.network} sessions at 30 fps per GPU ({gpu.name})" if per_gpu
          else "GPU: not measured (run perf/gpu_check.py on a GPU, then --gpu its JSON)")
    print(f"nodes of {args.node_cores} cores and {args.node_memory_gb:g} GB, {USABLE:.0%} of each for calls; "
          f"{args.max_sessions} calls per orchestrator pod on the GPU stack")
    rows = [plan(n, cpu, orchestrator, per_gpu, args.node_cores, args.node_memory_gb, args.max_sessions)
            for n in args.callers]
    for row in rows:
        print(row)
    save({"cpu_stack": cpu, "orchestrator": orchestrator, "gpu_sessions_per_gpu": per_gpu, "rows": rows,
          "inputs": {"capacity": str(capacity), "gpu": str(gpu) if gpu else None},
          "settings": {k: v for k, v in vars(args).items() if k not in ("capacity", "gpu", "out", "config")},
          "machine": machine()}, report_path("capacity_model", args.out))


if __name__ == "__main__":
    main()
