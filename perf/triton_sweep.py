"""Concurrency sweep of Triton's models with perf_analyzer: throughput, p50/p95 latency, queue vs compute.

    .venv/bin/python -m perf.triton_sweep [--models asr tts ...] [--max-concurrency 4] [--window-requests 20]

Starts Triton on loopback with model_repository/cpu (Wav2Lip with random weights for `lipsync`), runs
perf_analyzer (from the tritonclient wheel) for each model at concurrency 1..N over gRPC (streaming
for decoupled models such as `llm`; a level that never gives a stable measurement is reported as
such), and writes perf/results/triton-sweep-*.json. Inputs are
perf/triton_inputs/MODEL.json (python -m perf.make_triton_inputs); a model without one gets random data.
Server queue and compute times are Triton's own statistics, which perf_analyzer reads per window.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import tritonclient.grpc as grpcclient

from perf.harness import REPO, arguments, machine, report_path, save
from perf.triton_local import benchmark_repository, local_triton

INPUTS = REPO / "perf" / "triton_inputs"
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
        import nvidia.cuda_runtime

        cudart = Path(next(iter(nvidia.cuda_runtime.__path__))) / "lib"
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(cudart), env.get("LD_LIBRARY_PATH")]))
    except ImportError:
        pass
    check = subprocess.run([path, "--version"], capture_output=True, text=True, env=env, check=False)
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


def run_level(binary: str, env: dict, model: str, grpc_url: str, concurrency: int, data: Path,
              decoupled: bool, window_requests: int, stability: int, csv_file: Path) -> dict:
    """One perf_analyzer run at one concurrency, so that a level that never stabilises costs only itself."""
    cmd = [binary, "-m", model, "-u", grpc_url, "-i", "grpc", "--concurrency-range", f"{concurrency}:{concurrency}",
           "--input-data", str(data) if data.is_file() else "random", "-f", str(csv_file),
           # Windows of a fixed number of requests suit models from 1 ms (vad) to seconds (llm) alike.
           "--measurement-mode", "count_windows", "--measurement-request-count", str(window_requests),
           "--stability-percentage", str(stability), "--max-trials", "10"]
    if decoupled:
        cmd.append("--streaming")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0 or not csv_file.is_file():
        reason = next((line.strip() for line in (done.stdout + done.stderr).splitlines()
                       if line.startswith(("Failed", "error", "Error"))), f"exit {done.returncode}")
        return {"concurrency": concurrency, "error": reason}
    return parse_csv(csv_file)[0]


def sweep_model(model: str, grpc_url: str, max_concurrency: int, window_requests: int, stability: int,
                work: Path) -> dict:
    binary, env = perf_analyzer()
    config = grpcclient.InferenceServerClient(grpc_url).get_model_config(model, as_json=True)["config"]
    decoupled = config.get("model_transaction_policy", {}).get("decoupled", False)
    data = INPUTS / f"{model}.json"
    rows = [run_level(binary, env, model, grpc_url, c, data, decoupled, window_requests, stability,
                      work / f"{model}-{c}.csv")
            for c in range(1, max_concurrency + 1)]
    return {"model": model, "decoupled": decoupled, "input": data.name if data.is_file() else "random",
            "max_batch_size": int(config.get("max_batch_size", 0)), "rows": rows}


def print_table(results: list[dict]) -> None:
    print(f"{'model':<9} {'conc':>4} {'infer/s':>8} {'p50 ms':>9} {'p95 ms':>9} {'queue ms':>9} {'compute ms':>10}")
    for result in results:
        for row in result["rows"]:
            if "error" in row:
                print(f"{result['model']:<9} {row['concurrency']:>4}  {row['error']}")
                continue
            print(f"{result['model']:<9} {row['concurrency']:>4} {row['throughput_per_s']:>8.2f} {row['p50_ms']:>9.1f} "
                  f"{row['p95_ms']:>9.1f} {row['server_queue_ms']:>9.1f} {row['server_compute_ms']:>10.1f}")


def main() -> None:
    parser = arguments(__doc__, stack=False)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--max-concurrency", type=int, default=4)
    parser.add_argument("--window-requests", type=int, default=20, help="requests per measurement window")
    # perf_analyzer's default is 10 %; two cores shared by client, server (and other work) vary more.
    parser.add_argument("--stability-percentage", type=int, default=50,
                        help="largest spread of 3 consecutive windows accepted as stable")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        repository = benchmark_repository(Path(tmp) / "repository")
        with local_triton(repository, models=args.models) as server:
            for model in args.models:
                print(f"sweeping {model} at concurrency 1..{args.max_concurrency}", flush=True)
                results.append(sweep_model(model, server.url, args.max_concurrency, args.window_requests,
                                           args.stability_percentage, Path(tmp)))
    report = {
        "machine": machine(),
        "server": "tritonserver 2.51 (nvidia-pytriton wheel), model_repository/cpu, loopback gRPC",
        "window_requests": args.window_requests,
        "stability_percentage": args.stability_percentage,
        "models": results,
    }
    print_table(results)
    save(report, report_path("triton-sweep", args.out))


if __name__ == "__main__":
    main()
