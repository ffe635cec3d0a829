"""Lay the chart's `orchestrator.stack` values over a stack file of the image, for the entrypoint.

    python stack_overlay.py configs/triton-gpu.yaml overlay.yaml out.yaml

The stack file stays the one place where models and engines are chosen; the chart only says what a
cluster changes (Triton's Service addresses, max_sessions, drain_s, broadcast targets). The persona
and registry paths, relative to the base file, are made absolute so the written file can live anywhere.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def overlay(base_path: Path, over: dict) -> dict:
    stack = merge(yaml.safe_load(base_path.read_text(encoding="utf-8")), over)
    for key in ("persona", "models"):
        if key in stack:
            stack[key] = str((base_path.resolve().parent / stack[key]).resolve())
    return stack


if __name__ == "__main__":
    base, over, out = (Path(arg) for arg in sys.argv[1:4])
    written = overlay(base, yaml.safe_load(over.read_text(encoding="utf-8")) or {})
    out.write_text(yaml.safe_dump(written, sort_keys=False), encoding="utf-8")
