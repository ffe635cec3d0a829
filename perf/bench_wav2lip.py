"""Benchmark of Wav2Lip on onnxruntime: frames/s at batch 1 (the baseline), 8 and 32.

Uses the real architecture with random weights (speed does not depend on the weights), exported
with export/wav2lip.py. On a machine with CUDA, onnxruntime-gpu's CUDA provider is used when
present; pass --providers to choose.

    .venv/bin/python -m perf.bench_wav2lip [--onnx FILE] [--providers CPUExecutionProvider]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime

from parley.face.network import default_providers
from perf.harness import REPO, arguments, machine, report_path, save


def main() -> None:
    parser = arguments(__doc__, stack=False)
    parser.add_argument("--onnx", type=Path)
    parser.add_argument("--providers", nargs="*")
    parser.add_argument("--seconds", type=float, default=6.0, help="time spent per batch size")
    args = parser.parse_args()
    onnx_file = args.onnx
    if onnx_file is None:
        onnx_file = Path(tempfile.mkdtemp()) / "wav2lip-random.onnx"
        subprocess.run([sys.executable, str(REPO / "export" / "wav2lip.py"), "--random-weights",
                        "--out", str(onnx_file)], check=True, capture_output=True)
    providers = args.providers or default_providers()
    session = onnxruntime.InferenceSession(str(onnx_file), providers=providers)
    rng = np.random.default_rng(0)
    rows = {}
    for batch in (1, 8, 32):
        feeds = {"audio": rng.uniform(-4, 4, (batch, 1, 80, 16)).astype(np.float32),
                 "face": rng.uniform(0, 1, (batch, 6, 96, 96)).astype(np.float32)}
        session.run(None, feeds)  # warm-up
        calls, t0 = [], time.perf_counter()
        while time.perf_counter() - t0 < args.seconds or len(calls) < 3:
            t1 = time.perf_counter()
            session.run(None, feeds)
            calls.append(time.perf_counter() - t1)
        ms = float(np.median(calls) * 1000)
        rows[batch] = {"ms_per_call": round(ms, 1), "frames_per_s": round(batch / (ms / 1000), 1)}
    result = {"machine": machine(), "providers": session.get_providers(), "batches": rows,
              "speedup_batch32_vs_batch1": round(rows[32]["frames_per_s"] / rows[1]["frames_per_s"], 2)}
    print(f"Wav2Lip ONNX on {session.get_providers()[0]}:")
    for batch, row in rows.items():
        print(f"  batch {batch:2d}: {row['ms_per_call']:7.1f} ms a call, {row['frames_per_s']:6.1f} frames/s")
    save(result, report_path("wav2lip", args.out))


if __name__ == "__main__":
    main()
