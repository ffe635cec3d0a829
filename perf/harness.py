"""What the benchmarks share: their command line, the stack they measure, percentiles, and the JSON
report each writes under perf/results/ (comparisons in it are against a baseline measured in the
same run).

    args = arguments(__doc__).parse_args()    # --config STACK.yaml, --out DIR
    parley = load(args)                       # the stack at --config; engines load on first use
    ...
    result = {"machine": machine(), "turn_ms": summary(waits), **percentiles(frames, 2, "frame_ms_p{}")}
    save(result, report_path("name", args.out))   # perf/results/name-YYYYmmdd-HHMMSS.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "perf" / "results"


def arguments(doc: str | None, stack: bool = True) -> argparse.ArgumentParser:
    """A benchmark's command line: ``doc`` as its help, ``--out`` for the report and, with ``stack``,
    ``--config`` for the stack it measures."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if stack:
        parser.add_argument("--config", type=Path, metavar="STACK.yaml",
                            help="the stack to measure (default: $PARLEY_CONFIG, or configs/cpu.yaml)")
    parser.add_argument("--out", type=Path, default=RESULTS, metavar="DIR",
                        help="where the JSON report goes (default: perf/results/)")
    return parser


def load(args: argparse.Namespace, avatar: str | None = None):
    """The avatar at ``--config`` (with ``avatar``'s face and voice instead of its own): a
    ``parley.assemble.Parley`` whose engines load on first use."""
    # Imported here, not above: gpu_check runs on a GPU machine that has torch but not Parley's packages.
    from parley.assemble import Parley

    return Parley.load(args.config, avatar)


def percentile(values: Sequence[float], q: float, digits: int | None = None,
               method: str = "linear") -> float | None:
    """The ``q``th percentile (0-100) of ``values``, rounded to ``digits``; None when there are none.
    ``method`` is numpy's: linear interpolation between the two nearest values unless a benchmark has
    always used another."""
    if len(values) == 0:
        return None
    value = float(np.percentile(values, q, method=method))
    return value if digits is None else round(value, digits)


def percentiles(values: Sequence[float], digits: int | None = 1, key: str = "p{}",
                qs: Sequence[float] = (50, 95)) -> dict[str, float | None]:
    """The p50 and p95 of ``values`` under the names ``key`` makes of them ("ms_p{}": "ms_p50")."""
    return {key.format(q): percentile(values, q, digits) for q in qs}


def summary(values: Sequence[float], digits: int = 1) -> dict:
    """p50, p95, the mean and how many values."""
    return {**percentiles(values, digits), "mean": round(statistics.fmean(values), digits), "n": len(values)}


def machine() -> dict:
    """What a report was measured on; the load average shows other work on the machine at the end."""
    return {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "platform": platform.platform(),
            "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]}


def report_path(name: str, out: Path = RESULTS) -> Path:
    """``out``/NAME-YYYYmmdd-HHMMSS.json: where a benchmark's report goes, named by when it ran."""
    return out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"


def save(result: dict, path: Path) -> Path:
    """Write the report as JSON at ``path`` (its folder made if need be) and say where it went."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"saved {path}")
    return path
