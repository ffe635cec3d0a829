"""Parley's benchmarks. Run each from the repository root as a module: ``python -m perf.bench_x --help``."""
