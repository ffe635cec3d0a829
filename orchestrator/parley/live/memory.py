"""Keeping a long-running server's memory flat under glibc.

glibc gives each thread that allocates (every stage's workers, the encoders) an arena of its own,
and memory freed in one is neither reused by another nor returned to the system until trimmed.
Two arenas (as MALLOC_ARENA_MAX=2 would set before start-up) and a trim once a minute keep what
the server holds close to what it uses. Elsewhere than glibc both do nothing.

glibc's mmap threshold is left to adjust itself: fixed low, every large buffer (a synthesis's
tensors among them) would be mapped and its pages faulted in anew, which slows speech
synthesis far more than the memory it saves between two trims is worth.
"""

from __future__ import annotations

import ctypes
import threading
import time

M_ARENA_MAX = -8


def _libc():
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def keep_memory_flat(trim_every_s: float = 60.0) -> None:
    """Call before the stages' threads start: threads created later share the two arenas."""
    libc = _libc()
    if libc is None:
        return
    libc.mallopt(M_ARENA_MAX, 2)

    def trim() -> None:
        while True:
            time.sleep(trim_every_s)
            libc.malloc_trim(0)

    # A daemon: it holds nothing and must not keep the process alive at exit.
    threading.Thread(target=trim, name="parley-malloc-trim", daemon=True).start()
