"""Concurrency sweep of Triton's models with perf_analyzer: throughput, p50/p95 latency, queue vs compute.

    .venv/bin/python perf/triton_sweep.py [--models asr tts ...] [--max-concurrency 4] [--interval-ms 5000]

Starts Triton on loopback with model_repository/cpu (Wav2Lip with random weights for `lipsync`), runs
perf_analyzer (from the tritonclient wheel) for each model at concurrency 1..N over gRPC (streaming
for decoupled models such as `llm`), and writes perf/results/triton-sweep-*.json. Inputs are
perf/triton_inputs/MODEL.json (perf/make_triton_inputs.py); a model without one gets random data.
Server queue and compute times are Triton's own statistics, which perf_analyzer reads per window.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tritonclient.grpc as grpcclient

from triton_local import ROOT, benchmark_repository, local_triton

INPUTS = ROOT / "perf" / "triton_inputs"
RESULTS = ROOT / "perf" / "results"
MODELS = ("vad", "asr", "tts", "visemes", "speak", "llm", "lipsync")


def perf_analyzer() -> tuple[str, dict[str, str]]:
    """The binary from the tritonclient wheel, and an environment where it loads.

    It links libcudart.so.12 (for CUDA shared memory, unused here), which the
    nvidia-cuda-runtime-cu12 wheel provides, and Debian's libb64-0d.
    """
    binary = Path(sys.executable).parent / "perf_analyzer"
    path = str(binary) if binary.is_file() else shutil.which("perf_analyzer")
    if path is None:
        sys.exit("perf_analyzer not found: pip install 'tritonclient[all]==2.51.0'")
    env = dict(os.environ)
    try:
        import nvidia.cuda_runtime  # noqa: PLC0415

        cudart = Path(list(nvidia.cuda_runtime.__path__)[0]) / "lib"
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(cudart), env.get("LD_LIBRARY_PATH")]))
    except ImportError:
        pass
    check = subprocess.run([path, "--version"], capture_output=True, text=True, env=env)
    if "error while loading shared libraries" in check.stderr:
        sys.exit(f"perf_analyzer cannot start: {check.stderr.strip()}\n"
                 "  libcudart.so.12: pip install nvidia-cuda-runtime-cu12; libb64.so.0d: apt-get install libb64-0d")
    return path, env


def _us_to_ms(row: dict, *columns: str) -> float:
    return round(sum(float(row[c]) for c in columns) / 1000.0, 2)


def parse_csv(path: Path) -> list[dict]:
    """perf_analyzer's -f CSV: one row per concurrency; latencies in microseconds."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [{
        "concurrency": int(row["Concurrency"]),
        "throughput_per_s": round(float(row["Inferences/Second"]), 2),
        "p50_ms": _us_to_ms(row, "p50 latency"),
        "p95_ms": _us_to_ms(row, "p95 latency"),
        "server_queue_ms": _us_to_ms(row, "Server Queue"),
        "server_compute_ms": _us_to_ms(row, "Server Compute Input", "Server Compute Infer", "Server Compute Output"),
    } for row in rows]


def sweep_model(model: str, grpc_url: str, max_concurrency: int, interval_ms: int, work: Path) -> dict:
    binary, env = perf_analyzer()
    config = grpcclient.InferenceServerClient(grpc_url).get_model_config(model, as_json=True)["config"]
    decoupled = config.get("model_transaction_policy", {}).get("decoupled", False)
    data = INPUTS / f"{model}.json"
    csv_file = work / f"{model}.csv"
    cmd = [binary, "-m", model, "-u", grpc_url, "-i", "grpc", "--concurrency-range", f"1:{max_concurrency}",
           "--measurement-interval", str(interval_ms), "--input-data", str(data) if data.is_file() else "random",
           "-f", str(csv_file),
           # Two cores shared with the server: windows vary more than perf_analyzer's default 10 %.
           "--stability-percentage", "25", "--max-trials", "6"]
    if decoupled:
        cmd.append("--streaming")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0 or not csv_file.is_file():
        raise RuntimeError(f"perf_analyzer failed for {model} ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return {"model": model, "decoupled": decoupled, "input": data.name if data.is_file() else "random",
            "max_batch_size": int(config.get("max_batch_size", 0)), "rows": parse_csv(csv_file)}


def print_table(results: list[dict]) -> None:
    print(f"{'model':<9} {'conc':>4} {'infer/s':>8} {'p50 ms':>9} {'p95 ms':>9} {'queue ms':>9} {'compute ms':>10}")
    for result in results:
        for row in result["rows"]:
            print(f"{result['model']:<9} {row['concurrency']:>4} {row['throughput_per_s']:>8.2f} {row['p50_ms']:>9.1f} "
                  f"{row['p95_ms']:>9.1f} {row['server_queue_ms']:>9.1f} {row['server_compute_ms']:>10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--max-concurrency", type=int, default=4)
    parser.add_argument("--interval-ms", type=int, default=5000, help="perf_analyzer's measurement window")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        repository = benchmark_repository(Path(tmp) / "repository")
        with local_triton(repository, models=args.models) as server:
            for model in args.models:
                print(f"sweeping {model} at concurrency 1..{args.max_concurrency}", flush=True)
                results.append(sweep_model(model, server.grpc_url, args.max_concurrency, args.interval_ms, Path(tmp)))
    report = {
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "server": "tritonserver 2.51 (nvidia-pytriton wheel), model_repository/cpu, loopback gRPC",
        "measurement_interval_ms": args.interval_ms,
        "models": results,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / time.strftime("triton-sweep-%Y%m%d-%H%M%S.json")
    path.write_text(json.dumps(report, indent=2))
    print_table(results)
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
