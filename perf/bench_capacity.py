"""Capacity: how many callers one `parley serve` serves at once at full quality on this machine.

For each count of callers (1, 2, … --max), a fresh server and that many aiortc callers on loopback
receiving the avatar's audio and video. In each of --rounds rounds every caller types a question at
the same moment; per caller: typed → first audio leaving the server (the `chunk_playing` event) and
the video frame rate received over the run. One caller is the baseline, measured in the same run.

    .venv/bin/python -m perf.bench_capacity [--max 4] [--rounds 4]
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from perf.bench_speech_in import QUESTIONS
from perf.harness import arguments, machine, percentiles, report_path, save
from testbed.live_client import Caller, serving

GAP_S = 8.0  # after each round, for the answers to play out


async def run_callers(served, n: int, rounds: int) -> dict:
    group = [await Caller(served.base).connect() for _ in range(n)]
    await asyncio.sleep(2)  # the streams settle
    frames0 = [c.frames for c in group]
    served.ps.cpu_percent(None)
    started = time.monotonic()
    first_audio = []
    for r in range(rounds):
        asked_at = time.monotonic()
        before = [len(c.of_type("chunk_playing")) for c in group]
        for i, caller in enumerate(group):
            caller.type(QUESTIONS[(r * n + i) % len(QUESTIONS)])
        await asyncio.gather(*(c.answered(r + 1, timeout=180) for c in group))
        for caller, seen in zip(group, before):
            await caller.wait_until(lambda c=caller, s=seen: len(c.of_type("chunk_playing")) > s, 30)
            first_audio.append((caller.first_at(seen) - asked_at) * 1000)
        await asyncio.sleep(GAP_S)
    seconds = time.monotonic() - started
    cpu = served.ps.cpu_percent(None)
    fps = [(c.frames - f0) / seconds for c, f0 in zip(group, frames0)]
    for caller in group:
        await caller.close()
    return {"callers": n, "first_audio_ms": percentiles(first_audio),
            "video_fps": {"min": round(min(fps), 1), "mean": round(statistics.fmean(fps), 1)},
            "server_cpu_pct": round(cpu, 1), "rss_mb": round(served.ps.memory_info().rss / 1e6, 1)}


def main() -> None:
    parser = arguments(__doc__, stack=False)
    parser.add_argument("--max", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    rows = []
    for n in range(1, args.max + 1):
        with serving(Path(tempfile.mkdtemp(prefix="parley-capacity-")), max_sessions=n) as served:
            rows.append(asyncio.run(run_callers(served, n, args.rounds)))
        row = rows[-1]
        print(f"{n} caller(s): first audio p50 {row['first_audio_ms']['p50']:.0f} / p95 "
              f"{row['first_audio_ms']['p95']:.0f} ms; video min {row['video_fps']['min']} / mean "
              f"{row['video_fps']['mean']} fps; server CPU {row['server_cpu_pct']:.0f} %, RSS {row['rss_mb']} MB",
              flush=True)
    result = {"rows": rows, "machine": machine(), "settings": {"max": args.max, "rounds": args.rounds}}
    save(result, report_path("capacity", args.out))


if __name__ == "__main__":
    main()
