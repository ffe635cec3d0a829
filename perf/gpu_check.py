"""GPU numbers for the neural faces and the GPU stack's models, in one run on a CUDA machine.

    python -m perf.gpu_check --out DIR                      # on the GPU machine (a few minutes)
    python -m perf.gpu_check --device cpu --quick --out DIR # here: the same code, tiny sizes, no numbers

What it measures, all with random weights of the real architectures (speed, never quality):

1. Wav2Lip and MuseTalk's per-frame model (UNet at timestep 0 + VAE decoder), fp16, batch 1 to 64:
   milliseconds a call and frames a second, eager and replayed as a CUDA graph (one graph per batch
   size, as a TensorRT engine with a dynamic batch would run them).
2. Sessions per GPU: N sessions each asking for a frame every 1/fps s (random phases) through a
   dynamic batcher configured like the Triton models (max batch 32, 2 ms queue delay, one instance),
   simulated on the batch latencies measured in 1; the most sessions whose p99 latency stays within
   one frame, at 25 and 30 fps.
3. Whisper tiny (encoder on a 30 s window, greedy decoding) and a 0.5B-parameter LLM of Qwen2.5-0.5B's
   shapes (prefill, then tokens a second at batch 1, 16 and 64).

Needs PyTorch with CUDA, transformers and diffusers, and orchestrator/ on PYTHONPATH where Parley is
not installed. The device machine has no package registry: diffusers travels as a wheel
(docs/benchmarks.md has the command). Writes DIR/gpu_check.json after each section (wav2lip, musetalk,
sessions, whisper, llm), so a section that fails keeps the numbers before it and says what it lacked in
its place; the run then exits 1. Prints the tables.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable
from pathlib import Path

from perf.harness import percentile, save

# As model_repository/gpu's lipsync and musetalk models (export/triton_gpu.py).
MAX_BATCH = 32
QUEUE_DELAY_S = 0.002


# --- the dynamic batcher, on measured latencies ---------------------------------------------------------


def simulate(latency_s: Callable[[int], float], sessions: int, fps: float, seconds: float = 10.0,
             max_batch: int = MAX_BATCH, delay_s: float = QUEUE_DELAY_S, seed: int = 0) -> list[float]:
    """Per-request latencies (s) of ``sessions`` clients at ``fps`` through one model instance that runs
    a batch as soon as ``max_batch`` requests wait, or when the oldest has waited ``delay_s`` (Triton's
    dynamic batcher with its largest preferred size equal to the maximum), a batch of b taking
    ``latency_s(b)``."""
    rng = random.Random(seed)
    arrivals = sorted(rng.uniform(0, 1 / fps) + k / fps for _ in range(sessions) for k in range(int(seconds * fps)))
    latencies: list[float] = []
    queue: deque[float] = deque()
    free_at, i, n = 0.0, 0, len(arrivals)
    while i < n or queue:
        if not queue:
            queue.append(arrivals[i])
            i += 1
        ready = max(free_at, queue[0])  # the instance is free and a request waits
        while i < n and arrivals[i] <= ready:
            queue.append(arrivals[i])
            i += 1
        start = ready
        if len(queue) < max_batch:  # wait for company until the oldest's deadline or a full batch
            deadline = max(ready, queue[0] + delay_s)
            while i < n and arrivals[i] <= deadline and len(queue) < max_batch:
                queue.append(arrivals[i])
                i += 1
            start = max(ready, queue[-1]) if len(queue) >= max_batch else deadline
        batch = [queue.popleft() for _ in range(min(max_batch, len(queue)))]
        free_at = start + latency_s(len(batch))
        latencies += [free_at - a for a in batch]
    return latencies


def p99(values: list[float]) -> float:
    return percentile(values, 99, method="higher")  # nearest rank: a latency some request really had


def sessions_within_a_frame(latency_s: Callable[[int], float], fps: float, most: int = 4096) -> int:
    """The most sessions whose p99 latency is at most one frame (1/fps)."""
    ok, n = 0, 1
    while n <= most and p99(simulate(latency_s, n, fps, seconds=4.0)) <= 1 / fps:
        ok, n = n, n * 2
    lo, hi = ok, min(n, most + 1)  # ok passes, hi fails (or is past the cap)
    while hi - lo > max(1, lo // 50):
        mid = (lo + hi) // 2
        if p99(simulate(latency_s, mid, fps, seconds=4.0)) <= 1 / fps:
            lo = mid
        else:
            hi = mid
    return lo


# --- timing on the GPU --------------------------------------------------------------------------------------


def timed(torch, fn: Callable[[], object], iters: int, device: str) -> float:
    """Median seconds a call of ``fn`` (synchronised)."""
    times = []
    for _ in range(iters):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def graphed(torch, model, inputs: list) -> Callable[[], object]:
    """``model(*inputs)`` captured once as a CUDA graph: replaying it launches no kernels from Python."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            model(*inputs)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        model(*inputs)
    return graph.replay


def bench_network(torch, name: str, model, make_inputs: Callable[[int], list], batches: list[int], device: str,
                  iters: int) -> list[dict]:
    rows = []
    with torch.inference_mode():
        for b in batches:
            inputs = make_inputs(b)
            model(*inputs)  # cuDNN picks its algorithms for this shape
            eager = timed(torch, lambda: model(*inputs), iters, device)
            row = {"network": name, "batch": b, "eager_ms": eager * 1000, "eager_fps": b / eager}
            if device == "cuda":
                replay = graphed(torch, model, inputs)
                graph = timed(torch, replay, iters, device)
                row |= {"graph_ms": graph * 1000, "graph_fps": b / graph}
            rows.append(row)
            print(f"{name:9} batch {b:3}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()
                                                         if isinstance(v, float)), flush=True)
    return rows


def face_network(torch, name: str, device: str, quick: bool, iters: int) -> tuple[list[dict], Callable[[int], float]]:
    """One face network's rows, and its batch latency (s) for the sessions' simulation."""
    dtype = torch.float16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    if name == "wav2lip":
        from export.networks.wav2lip import Wav2Lip

        model = Wav2Lip().eval().to(device, dtype)
        make = lambda b: [torch.rand(b, 1, 80, 16, device=device, dtype=dtype),  # noqa: E731
                          torch.rand(b, 6, 96, 96, device=device, dtype=dtype)]
    else:
        from export.networks.musetalk import TEST_UNET_CONFIG, TEST_VAE_CONFIG, FrameModel, build_unet, build_vae

        unet, vae = (build_unet(TEST_UNET_CONFIG), build_vae(TEST_VAE_CONFIG)) if quick else (build_unet(), build_vae())
        model = FrameModel(unet.eval().to(device, dtype), vae.eval().to(device, dtype)).to(device)
        make = lambda b: [torch.randn(b, 8, 32, 32, device=device), torch.randn(b, 50, 384, device=device)]  # noqa: E731
    batches = [1, 2, 4] if quick else sorted({*range(1, MAX_BATCH + 1), 48, 64})
    rows = bench_network(torch, name, model, make, batches, device, iters)
    key = "graph_ms" if device == "cuda" else "eager_ms"
    table = {r["batch"]: r[key] / 1000 for r in rows}
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    # Batches not measured (quick runs) cost as the next measured size up.
    return rows, lambda b: table[min((k for k in table if k >= b), default=max(table))]


def whisper_tiny(torch, device: str, iters: int) -> list[dict]:
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    dtype = torch.float16 if device == "cuda" else torch.float32
    config = WhisperConfig(d_model=384, encoder_layers=4, decoder_layers=4, encoder_attention_heads=6,
                           decoder_attention_heads=6, encoder_ffn_dim=1536, decoder_ffn_dim=1536, num_mel_bins=80,
                           vocab_size=51864)  # whisper-tiny.en's shapes
    model = WhisperForConditionalGeneration(config).eval().to(device, dtype)
    rows = []
    with torch.inference_mode():
        for b in (1, 16):
            mel = torch.randn(b, 80, 3000, device=device, dtype=dtype)
            encode = timed(torch, lambda: model.model.encoder(mel), iters, device)
            tokens = 20
            generate = timed(torch, lambda: model.generate(mel, max_new_tokens=tokens, min_new_tokens=tokens,
                                                           do_sample=False), max(2, iters // 4), device)
            rows.append({"model": "whisper-tiny.en", "batch": b, "encoder_ms": encode * 1000,
                         "decode_ms_per_token": (generate - encode) * 1000 / tokens})
            print(rows[-1], flush=True)
    return rows


def llm_half_b(torch, device: str, quick: bool, iters: int) -> list[dict]:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    shapes = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                  num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, tie_word_embeddings=True)
    if quick:
        shapes |= dict(num_hidden_layers=2, vocab_size=4096)
    model = Qwen2ForCausalLM(Qwen2Config(**shapes)).eval().to(device, dtype)
    params = sum(p.numel() for p in model.parameters())
    rows = []
    prompt, new = (64, 8) if quick else (512, 64)
    with torch.inference_mode():
        for b in ((1, 2) if quick else (1, 16, 64)):
            ids = torch.randint(0, shapes["vocab_size"], (b, prompt), device=device)
            prefill = timed(torch, lambda: model(ids), iters, device)
            generate = timed(torch, lambda: model.generate(ids, max_new_tokens=new, min_new_tokens=new,
                                                           do_sample=False, pad_token_id=0),
                             max(2, iters // 4), device)
            decode = (generate - prefill) / new
            rows.append({"model": f"qwen2.5-0.5b shapes ({params / 1e6:.0f} M parameters)", "batch": b,
                         "prompt_tokens": prompt, "prefill_ms": prefill * 1000, "decode_ms_per_token": decode * 1000,
                         "tokens_per_s": b / decode})
            print(rows[-1], flush=True)
    return rows


# What a section needs that a bare device machine may lack, and how to get it there.
NEEDS = {
    "diffusers": "carry its wheel to the device machine (docs/benchmarks.md, GPU check)",
    "transformers": "pip install transformers (the test extra's version)",
    "parley": "run from the repository root with orchestrator/ on PYTHONPATH",
    "export": "run from the repository root: python -m perf.gpu_check",
}


def failure(exc: BaseException) -> str:
    """What a failed section writes in place of its numbers: what is missing and how to get it, or the error."""
    if isinstance(exc, ImportError) and exc.name:
        top = exc.name.split(".")[0]
        return f"{top} is missing here: {NEEDS.get(top, f'install {top}')}"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def run_sections(sections: dict[str, Callable[[], object]], result: dict, path: Path) -> list[str]:
    """Each section's numbers into ``result``, the file written after each: a section that fails records
    why and the next still run, so one missing package or failed capture loses no other number. Returns
    the failed sections."""
    failed = []
    for name, section in sections.items():
        try:
            result[name] = section()
        except Exception as exc:  # noqa: BLE001 - reported in the file and on stderr, and the run exits 1
            traceback.print_exc()
            result[name] = {"error": failure(exc)}
            failed.append(name)
            print(f"{name}: {result[name]['error']}", file=sys.stderr, flush=True)
        save(result, path)
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script runs, measures nothing")
    parser.add_argument("--iters", type=int, default=20)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("PyTorch is missing here: pip install torch (with CUDA on the GPU machine)", file=sys.stderr)
        return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here: run on the GPU machine, or --device cpu --quick to check the script",
              file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = True
    iters = 3 if args.quick else args.iters
    started = time.time()
    latency: dict[str, Callable[[int], float]] = {}

    def face(name: str) -> Callable[[], list[dict]]:
        def run() -> list[dict]:
            rows, latency[name] = face_network(torch, name, args.device, args.quick, iters)
            return rows
        return run

    def sessions() -> list[dict]:
        rows = [{"network": name, "fps": fps, "sessions_p99_within_a_frame": sessions_within_a_frame(lat, fps)}
                for name, lat in latency.items() for fps in (25, 30)]
        for row in rows:
            print(row, flush=True)
        if not rows:
            raise RuntimeError("no face network was measured")
        return rows

    result = {"machine": {"gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else platform.processor(),
                          "torch": torch.__version__, "python": platform.python_version(), "quick": args.quick}}
    failed = run_sections({
        "wav2lip": face("wav2lip"),
        "musetalk": face("musetalk"),
        "sessions": sessions,
        "whisper": lambda: whisper_tiny(torch, args.device, iters),
        "llm": lambda: llm_half_b(torch, args.device, args.quick, iters),
    }, result, args.out / "gpu_check.json")
    result["seconds"] = time.time() - started
    save(result, args.out / "gpu_check.json")
    print(f"in {result['seconds']:.0f} s" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
