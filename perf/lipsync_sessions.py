"""Many sessions' Wav2Lip frames through one Triton: how dynamic batching grows with sessions.

    .venv/bin/python -m perf.lipsync_sessions [--sessions 1 2 4] [--fps 30] [--seconds 10]

Each simulated session renders on its own media clock: every 1/fps s it sends one frame's request
(a mel window [1, 80, 16] and a face crop [6, 96, 96], the shapes Parley's Wav2Lip renderer sends)
to Triton's `lipsync` model with tritonclient's gRPC async_infer. Like the live video track, a
session never queues frames behind a slow renderer: with --max-in-flight requests unanswered, the
frame is skipped. Triton's dynamic batcher merges requests from all sessions; the achieved batch
size is its own statistics' inference_count / execution_count over the run.

Wav2Lip has random weights (export/wav2lip.py): speed and batching are the real network's, the
pictures are noise. Starts Triton on loopback (model_repository/cpu) and stops it afterwards.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient

from perf.harness import arguments, machine, percentiles, report_path, save
from perf.triton_local import benchmark_repository, local_triton

MODEL = "lipsync"


@dataclass
class SessionLog:
    latencies_ms: list[float] = field(default_factory=list)
    sent: int = 0
    skipped: int = 0
    errors: int = 0
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def done(self, sent_at: float, result, error) -> None:
        with self.lock:
            self.in_flight -= 1
            if error is not None:
                self.errors += 1
            else:
                self.latencies_ms.append((time.perf_counter() - sent_at) * 1000.0)


def _frame_inputs(rng: np.random.Generator) -> list[grpcclient.InferInput]:
    audio = grpcclient.InferInput("audio", [1, 1, 80, 16], "FP32")
    audio.set_data_from_numpy(rng.uniform(-4, 4, (1, 1, 80, 16)).astype(np.float32))
    face = grpcclient.InferInput("face", [1, 6, 96, 96], "FP32")
    face.set_data_from_numpy(rng.uniform(0, 1, (1, 6, 96, 96)).astype(np.float32))
    return [face, audio]


def run_session(url: str, fps: float, start: float, stop: float, max_in_flight: int, seed: int,
                log: SessionLog) -> None:
    client = grpcclient.InferenceServerClient(url)
    inputs = _frame_inputs(np.random.default_rng(seed))
    frame = 0
    while True:
        slot = start + frame / fps
        if slot >= stop:
            break
        time.sleep(max(0.0, slot - time.perf_counter()))
        frame += 1
        with log.lock:
            if log.in_flight >= max_in_flight:
                log.skipped += 1
                continue
            log.in_flight += 1
            log.sent += 1
        client.async_infer(MODEL, inputs, callback=partial(log.done, time.perf_counter()))
    # Let the last answers arrive before the client closes.
    deadline = time.perf_counter() + 30
    while log.in_flight and time.perf_counter() < deadline:
        time.sleep(0.01)
    client.close()


def _stats(client: grpcclient.InferenceServerClient) -> dict:
    model = client.get_inference_statistics(MODEL, as_json=True)["model_stats"][0]
    stats = model["inference_stats"]
    ns = lambda key: (int(stats[key].get("ns", 0)), int(stats[key].get("count", 0)))
    return {
        "inferences": int(model.get("inference_count", 0)),
        "executions": int(model.get("execution_count", 0)),
        "queue": ns("queue"),
        "compute": ns("compute_infer"),
        "batches": {int(b["batch_size"]): int(b["compute_infer"].get("count", 0)) for b in model.get("batch_stats", [])},
    }


def measure(url: str, sessions: int, fps: float, seconds: float, max_in_flight: int) -> dict:
    client = grpcclient.InferenceServerClient(url)
    before = _stats(client)
    logs = [SessionLog() for _ in range(sessions)]
    # Sessions start a fraction of a frame apart, as real callers do, not in lock-step.
    start = time.perf_counter() + 0.2
    stop = start + seconds
    threads = [threading.Thread(target=run_session, args=(url, fps, start + i / (fps * sessions), stop,
                                                          max_in_flight, i, log))
               for i, log in enumerate(logs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = _stats(client)
    client.close()

    latencies = np.array([ms for log in logs for ms in log.latencies_ms])
    executions = after["executions"] - before["executions"]
    inferences = after["inferences"] - before["inferences"]
    queue_ns = after["queue"][0] - before["queue"][0]
    queued = after["queue"][1] - before["queue"][1]
    compute_ns = after["compute"][0] - before["compute"][0]
    computed = after["compute"][1] - before["compute"][1]
    batches = {size: count - before["batches"].get(size, 0) for size, count in after["batches"].items()}
    frames = sum(len(log.latencies_ms) for log in logs)
    wanted = sessions * int(seconds * fps)
    return {
        "sessions": sessions,
        "frames_wanted": wanted,
        "frames_rendered": frames,
        "frames_skipped": sum(log.skipped for log in logs),
        "errors": sum(log.errors for log in logs),
        "rendered_fps_per_session": round(frames / seconds / sessions, 2),
        "rendered_fps_total": round(frames / seconds, 2),
        **percentiles(latencies, 1, "latency_p{}_ms"),
        "avg_batch": round(inferences / executions, 2) if executions else None,
        "batch_histogram": {size: n for size, n in sorted(batches.items()) if n},
        "server_queue_ms_per_request": round(queue_ns / queued / 1e6, 1) if queued else None,
        # Triton credits every request in a batch with the whole batch's compute time, so the mean
        # per request is the mean time of the batch it rode in.
        "server_compute_ms_per_batch": round(compute_ns / computed / 1e6, 1) if computed else None,
    }


def print_table(rows: list[dict], fps: float) -> None:
    print(f"Wav2Lip (random weights) via Triton, {fps:g} fps per session")
    print(f"{'sessions':>8} {'fps total':>9} {'fps/session':>11} {'skipped':>8} {'avg batch':>9} {'p50 ms':>8} "
          f"{'p95 ms':>8} {'queue ms':>8} {'batch ms':>8}")
    for r in rows:
        skipped = f"{100 * r['frames_skipped'] / max(1, r['frames_wanted']):.0f} %"
        print(f"{r['sessions']:>8} {r['rendered_fps_total']:>9.1f} {r['rendered_fps_per_session']:>11.1f} {skipped:>8} "
              f"{r['avg_batch'] or 0:>9.2f} "
              f"{r['latency_p50_ms'] or 0:>8.1f} {r['latency_p95_ms'] or 0:>8.1f} "
              f"{r['server_queue_ms_per_request'] or 0:>8.1f} {r['server_compute_ms_per_batch'] or 0:>8.1f}")


def main() -> None:
    parser = arguments(__doc__, stack=False)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per session count")
    parser.add_argument("--max-in-flight", type=int, default=2,
                        help="unanswered frames a session allows before it skips one")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        repository = benchmark_repository(Path(tmp) / "repository")
        with local_triton(repository, models=[MODEL]) as server:
            warm = grpcclient.InferenceServerClient(server.url)
            for _ in range(3):  # onnxruntime's first calls allocate; keep them out of the numbers
                warm.infer(MODEL, _frame_inputs(np.random.default_rng(0)))
            warm.close()
            for sessions in args.sessions:
                print(f"{sessions} session(s) for {args.seconds:g} s", flush=True)
                rows.append(measure(server.url, sessions, args.fps, args.seconds, args.max_in_flight))
    report = {
        "machine": machine(),
        "server": "tritonserver 2.51 (nvidia-pytriton wheel), model_repository/cpu lipsync, loopback gRPC",
        "fps": args.fps, "seconds": args.seconds, "max_in_flight": args.max_in_flight,
        "rows": rows,
    }
    print_table(rows, args.fps)
    save(report, report_path("lipsync-sessions", args.out))


if __name__ == "__main__":
    main()
