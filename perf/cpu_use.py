"""Where the cores went during a benchmark: every thread's CPU time and run-queue wait, from /proc.

A background thread reads ``/proc/PID/task/TID/schedstat`` (nanoseconds on a CPU, nanoseconds
runnable but waiting for one) for every thread on the machine a few times a second. Threads are
grouped by their process (the server under test, Chromium's processes by ``--type=``, anything
else by name) and their own name (``parley-llm``, ``parley-face``…; llama.cpp's and onnxruntime's
workers inherit the name of the thread that started them). ``between(t0, t1)`` gives each group's
CPU and wait over a window of ``time.monotonic()``.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

PROC = Path("/proc")


def _process_label(pid: str, server_pid: int | None) -> str | None:
    try:
        comm = (PROC / pid / "comm").read_text().strip()
        cmdline = (PROC / pid / "cmdline").read_bytes()
    except OSError:
        return None
    if server_pid is not None and int(pid) == server_pid:
        return "server"
    if "chrom" in comm:  # Chromium rewrites its command line: one string, not NUL-separated arguments
        kind = re.search(rb"--type=(\S+)", cmdline)
        return f"chromium {kind[1].decode() if kind else 'browser'}"
    return comm


def snapshot(server_pid: int | None = None, labels: dict[str, str | None] | None = None) -> dict:
    """(pid, tid) → (process, thread name, ns on a CPU, ns waiting for one). ``labels`` caches each
    process's label between snapshots."""
    labels = {} if labels is None else labels
    out = {}
    for proc in PROC.iterdir():
        if not proc.name.isdigit():
            continue
        label = labels.get(proc.name)
        if label is None or label == "chromium zygote":  # a zygote's child takes its own arguments later
            label = labels[proc.name] = _process_label(proc.name, server_pid)
        if label is None:
            continue
        try:
            tasks = list((proc / "task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                name = (task / "comm").read_text().strip()
                run, wait, _ = (task / "schedstat").read_text().split()
            except (OSError, ValueError):
                continue  # the thread ended meanwhile
            out[(proc.name, task.name)] = (label, name, int(run), int(wait))
    return out


class CpuSampler(threading.Thread):
    def __init__(self, server_pid: int | None = None, period_s: float = 0.2) -> None:
        super().__init__(daemon=True, name="cpu-sampler")
        self.server_pid = server_pid
        self.period_s = period_s
        self.samples: list[tuple[float, dict]] = []
        self._labels: dict[str, str | None] = {}
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.samples.append((time.monotonic(), snapshot(self.server_pid, self._labels)))
            self._done.wait(self.period_s)

    def stop(self) -> None:
        self._done.set()
        self.join()

    def between(self, t0: float, t1: float) -> dict[str, dict[str, float]]:
        """Each group's CPU and run-queue wait in ms over [t0, t1] (the nearest samples inside it).
        A thread that started or ended inside the window counts from its first or to its last sample."""
        inside = [s for s in self.samples if t0 <= s[0] <= t1]
        if len(inside) < 2:
            return {}
        (start, first), (end, last) = inside[0], inside[-1]
        out: dict[str, dict[str, float]] = {}
        for key, (label, name, run, wait) in last.items():
            run0, wait0 = first.get(key, (0, 0, 0, 0))[2:]  # a thread started inside the window: from 0
            use = out.setdefault(f"{label} / {name}", {"cpu_ms": 0.0, "wait_ms": 0.0})
            use["cpu_ms"] += (run - run0) / 1e6
            use["wait_ms"] += (wait - wait0) / 1e6
        ranked = dict(sorted(((k, v) for k, v in out.items() if v["cpu_ms"] or v["wait_ms"]),
                             key=lambda kv: -kv[1]["cpu_ms"]))
        return {"window_ms": (end - start) * 1000, "threads": ranked}
