"""Real parts driven for the tests and the benchmarks: `parley serve` and callers on loopback, Chromium,
Triton, OpenAI-compatible servers, spoken material and its word error rate.

Tests and benchmarks both import from here, so neither imports the other.
"""
