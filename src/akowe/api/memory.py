"""Process settings that keep a busy process fair: freed memory goes back to the operating
system, and a CPU-bound thread (a render) cannot hold the GIL for long.


glibc serves large allocations with mmap, but after the first large block is freed it
raises its threshold (up to 32 MiB) and serves blocks below it from the heap, which is
rarely returned. A render's buffers (tens of MB) would then keep the process at its peak
long after. A fixed threshold keeps every large buffer mmapped, returned when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_MMAP_THRESHOLD = -3
_THRESHOLD = 256 * 1024


def return_freed_memory() -> None:
    """Fix glibc's mmap threshold (a no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(_M_MMAP_THRESHOLD, _THRESHOLD)
    except (OSError, AttributeError):
        return


# CPython hands the GIL over every 5 ms by default: while a render runs in its thread, every
# step of another request's work on the event loop could wait that long. At 0.5 ms a render
# slows by a few percent and the loop answers other tenants within about twice its idle time.
SWITCH_INTERVAL = 0.0005


def share_the_gil() -> None:
    """Shorten the GIL's switch interval (see SWITCH_INTERVAL)."""
    sys.setswitchinterval(SWITCH_INTERVAL)
