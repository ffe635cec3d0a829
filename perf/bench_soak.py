"""Soak: callers asking questions for minutes against one `parley serve`; does its memory stay flat?

Each caller (an aiortc peer on loopback, receiving the avatar's audio and video) types a question
every --interval seconds. The server's RSS is sampled every 5 s. The baseline is measured in the
same run: the median of the samples in the last minute of the warm-up (--warmup minutes), against
which the growth to the median of the samples in the run's last minute is reported, with every
answered, failed and unanswered question and the server's error lines. Medians over a minute, because
the server trims its heap once a minute and a single sample lands anywhere in that saw-tooth; the
single samples at the end of the warm-up and of the run are kept in the results too.

    .venv/bin/python -m perf.bench_soak [--minutes 10] [--callers 2] [--interval 15] [--warmup 2]
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from perf.bench_speech_in import QUESTIONS
from perf.harness import arguments, machine, report_path, save
from testbed.live_client import Caller, serving

ERROR_MARKS = ("Traceback", " ERROR ", "Exception", "exception")


async def soak(served, callers: int, minutes: float, interval: float, warmup: float) -> dict:
    group = [await Caller(served.base).connect() for _ in range(callers)]
    samples: list[tuple[float, int]] = []
    asked = 0
    start = time.monotonic()
    end = start + minutes * 60
    next_question = start

    async def sample() -> None:
        while time.monotonic() < end:
            samples.append((time.monotonic() - start, served.ps.memory_info().rss))
            await asyncio.sleep(5)

    sampler = asyncio.ensure_future(sample())
    while time.monotonic() < end:
        for i, caller in enumerate(group):
            caller.type(QUESTIONS[(asked + i) % len(QUESTIONS)])
        asked += 1
        next_question += interval
        await asyncio.sleep(max(0.0, next_question - time.monotonic()))
    await sampler
    await asyncio.sleep(interval)  # the last answers
    per_caller = [{"asked": asked, "answered": len(c.of_type("turn_done")), "failed": len(c.of_type("turn_failed")),
                   "problems": len(c.of_type("problem")), "video_fps": round(c.frames / (minutes * 60 + interval), 1)}
                  for c in group]
    for caller in group:
        await caller.close()
    warm = [rss for t, rss in samples if warmup * 60 - 60 < t <= warmup * 60]
    last = [rss for t, rss in samples if t > minutes * 60 - 60]
    base, end = statistics.median(warm), statistics.median(last)
    return {"samples": samples, "rss_after_warmup_mb": round(base / 1e6, 1), "rss_end_mb": round(end / 1e6, 1),
            "rss_peak_mb": round(max(rss for _, rss in samples) / 1e6, 1),
            "growth_after_warmup_pct": round((end - base) / base * 100, 2),
            "single_sample": {"rss_after_warmup_mb": round(warm[-1] / 1e6, 1), "rss_end_mb": round(last[-1] / 1e6, 1),
                              "growth_after_warmup_pct": round((last[-1] - warm[-1]) / warm[-1] * 100, 2)},
            "callers": per_caller}


def main() -> None:
    parser = arguments(__doc__, stack=False)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--callers", type=int, default=2)
    parser.add_argument("--interval", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=2)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="parley-soak-"))
    with serving(folder, max_sessions=max(args.callers, 2)) as served:
        idle = served.ps.memory_info().rss
        result = asyncio.run(soak(served, args.callers, args.minutes, args.interval, args.warmup))
        log = served.log()
    result["rss_idle_before_calls_mb"] = round(idle / 1e6, 1)
    result["error_lines"] = [line for line in log.splitlines() if any(m in line for m in ERROR_MARKS)]
    result["machine"] = machine()
    result["settings"] = vars(args) | {"out": str(args.out)}
    answered = sum(c["answered"] for c in result["callers"])
    asked = sum(c["asked"] for c in result["callers"])
    print(f"{args.callers} callers, {args.minutes:g} min, a question every {args.interval:g} s: {answered}/{asked} "
          f"answered, {sum(c['failed'] for c in result['callers'])} failed; video "
          f"{', '.join(str(c['video_fps']) for c in result['callers'])} fps")
    single = result["single_sample"]
    print(f"RSS idle {result['rss_idle_before_calls_mb']} MB; median of the last minute of the {args.warmup:g}-min "
          f"warm-up {result['rss_after_warmup_mb']} MB, of the run's last minute {result['rss_end_mb']} MB "
          f"({result['growth_after_warmup_pct']:+.1f} %); single samples {single['rss_after_warmup_mb']} → "
          f"{single['rss_end_mb']} MB ({single['growth_after_warmup_pct']:+.1f} %); peak {result['rss_peak_mb']} MB; "
          f"{len(result['error_lines'])} error lines")
    save(result, report_path("soak", args.out))


if __name__ == "__main__":
    main()
