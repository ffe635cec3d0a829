"""Parley: a self-hosted, real-time talking avatar."""

__version__ = "0.1.0"
