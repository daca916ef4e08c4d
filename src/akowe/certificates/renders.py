"""Renders: bounded, fair and cached.

- `RenderGate` runs renders (PDF and PNG downloads, template previews) in its own threads:
  at most `AKOWE_RENDER_THREADS` at once per process, each account at most
  `AKOWE_RENDER_PER_ACCOUNT` running or waiting (more is 429), at most `AKOWE_RENDER_QUEUE`
  waiting in all (more is 503). Waiting accounts take turns, so one account's flood queues
  behind itself and another account's render starts next. The render threads run at a
  lower scheduling priority (nice +5 on Linux): when the cores are busy, answering
  requests comes before drawing pictures, so a render flood barely moves other tenants'
  latency.
- `RenderCache` keeps rendered files on disk under a byte budget
  (`AKOWE_RENDER_CACHE_BYTES`), the least recently used evicted first. Renders are
  deterministic (a certificate renders from stored data), so an evicted file is rendered
  again when asked. PNGs are cached only at the widths of `PNG_WIDTHS`: a requested width is
  rounded up to the next one, so a certificate has at most that many PNGs.

  The cache is local to each process (its data directory), whatever the file store: with
  many processes on many hosts (akowe.storage.s3), each keeps its own bounded cache and a
  process that never rendered a certificate renders it on first request. Sharing renders
  through the object store would trade a render (tens of milliseconds) for a network
  round trip and an unbounded bucket; a process with an empty data directory still answers
  every request. A cached render's name must therefore encode everything it depends on.
"""

from __future__ import annotations

import asyncio
import math
import os
import tempfile
import threading
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import TypeVar

from akowe import metrics
from akowe.errors import TooManyRequests, Unavailable

R = TypeVar("R")

# The widths PNGs are rendered and cached at (a requested width is rounded up to one).
PNG_WIDTHS = (200, 400, 800, 1200, 1600, 2000, 2400)
MAX_PNG_WIDTH = PNG_WIDTHS[-1]
# No raster is larger than this, whatever the design's proportions (24 MB as RGB).
MAX_RENDER_PIXELS = 8_000_000


def png_width(requested: int | None, width: int, height: int) -> int:
    """The width a PNG is rendered at: the requested one (default: the design's) rounded up
    to one of PNG_WIDTHS, then lowered as needed to stay within MAX_RENDER_PIXELS."""
    wanted = requested or width
    chosen = next((w for w in PNG_WIDTHS if w >= wanted), MAX_PNG_WIDTH)
    if chosen * chosen * height / width > MAX_RENDER_PIXELS:
        fitting = math.isqrt(int(MAX_RENDER_PIXELS * width / height))
        chosen = max(16, fitting)
    return chosen


RENDER_NICENESS = 5


def _lower_priority() -> None:
    """Render threads yield the CPU to request handling (Linux schedules threads apart)."""
    with suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), RENDER_NICENESS)


class RenderGate:
    """Fair, bounded admission of renders and the threads they run in; see the module
    docstring."""

    def __init__(self, *, slots: int, per_account: int, queue: int) -> None:
        self._executor = ThreadPoolExecutor(
            slots, thread_name_prefix="akowe-render", initializer=_lower_priority
        )
        self.slots = slots
        self.per_account = per_account
        self.queue = queue
        self._running = 0
        self._held: dict[str, int] = {}
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()
        self._waiting_count = 0

    async def run(self, account: str, fn: Callable[[], R]) -> R:
        """Run blocking `fn` in a render thread once `account` is admitted."""
        async with self.slot(account):
            return await asyncio.wrap_future(self._executor.submit(fn))

    def close(self) -> None:
        """Stop the render threads (after the renders running now)."""
        self._executor.shutdown(wait=True)

    @asynccontextmanager
    async def slot(self, account: str) -> AsyncIterator[None]:
        """Hold one render place for `account` (429 when the account has too many, 503
        when the queue is full)."""
        held = self._held.get(account, 0)
        if held >= self.per_account:
            raise TooManyRequests(
                f"This account already has {held} renders in progress; retry when one ends.",
                retry_after=1,
            )
        if self._running < self.slots and not self._waiting_count:
            self._running += 1
            self._held[account] = held + 1
        else:
            if self._waiting_count >= self.queue:
                raise Unavailable("Too many renders are waiting; retry in a moment.")
            self._held[account] = held + 1
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting.setdefault(account, deque()).append(future)
            self._waiting_count += 1
            try:
                await future
            except BaseException:
                if future.done() and not future.cancelled():
                    self._release(account)  # granted just as the wait was cancelled
                else:
                    self._forget(account, future)
                raise
        try:
            yield
        finally:
            self._release(account)

    def _forget(self, account: str, future: asyncio.Future[None]) -> None:
        waiting = self._waiting.get(account)
        if waiting is not None and future in waiting:
            waiting.remove(future)
            self._waiting_count -= 1
            if not waiting:
                del self._waiting[account]
        self._drop(account)

    def _release(self, account: str) -> None:
        self._drop(account)
        self._running -= 1
        while self._waiting:
            # Round robin: the account first in line gets the place and goes to the back.
            next_account, waiting = next(iter(self._waiting.items()))
            future = waiting.popleft()
            self._waiting_count -= 1
            if waiting:
                self._waiting.move_to_end(next_account)
            else:
                del self._waiting[next_account]
            if not future.done():
                self._running += 1
                future.set_result(None)
                return

    def _drop(self, account: str) -> None:
        held = self._held.get(account, 0) - 1
        if held <= 0:
            self._held.pop(account, None)
        else:
            self._held[account] = held


class RenderCache:
    """`<data dir>/renders/<name>`, written atomically, kept under `max_bytes` (LRU)."""

    def __init__(self, root: Path, *, max_bytes: int = 1024 * 1024 * 1024) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._size: int | None = None  # bytes on disk as this process last counted them

    def get_or_render(self, name: str, render: Callable[[], bytes]) -> bytes:
        """The cached bytes, or render, store and return them."""
        data = self.get(name)
        if data is not None:
            return data
        with metrics.timed(metrics.RENDER_SECONDS.labels(metrics.render_kind(name))):
            data = render()
        self.put(name, data)
        return data

    def get(self, name: str) -> bytes | None:
        """The cached bytes (now the most recently used), or None."""
        path = self.root / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        with suppress(OSError):
            os.utime(path)  # recently used: evicted last
        return data

    def put(self, name: str, data: bytes) -> None:
        """Keep a render made elsewhere (a worker process)."""
        if len(data) > self.max_bytes:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, self.root / name)
        self._added(len(data))

    def forget(self, prefix: str) -> int:
        """Delete every cached file whose name starts with `prefix` (a certificate's id: all
        its revisions and sizes); how many were deleted."""
        deleted = 0
        try:
            entries = self._entries()
        except FileNotFoundError:
            return 0
        for entry in entries:
            if entry.name.startswith(prefix):
                with suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    deleted += 1
        with self._lock:
            self._size = None  # counted again at the next addition
        return deleted

    def _added(self, size: int) -> None:
        with self._lock:
            if self._size is None:
                self._size = self._count()
            else:
                self._size += size
            if self._size > self.max_bytes:
                self._size = self._evict()

    def _count(self) -> int:
        return sum(entry.stat().st_size for entry in self._entries())

    def _entries(self) -> list[os.DirEntry[str]]:
        with os.scandir(self.root) as entries:
            return [e for e in entries if e.is_file() and not e.name.startswith(".tmp-")]

    def _evict(self) -> int:
        """Delete the least recently used files until 90% of the budget is left; returns
        the bytes kept. Other processes' files count too (they share the directory)."""
        files = []
        for entry in self._entries():
            with suppress(FileNotFoundError):
                stat = entry.stat()
                files.append((stat.st_mtime, stat.st_size, entry.path))
        files.sort()
        total = sum(size for _, size, _ in files)
        target = self.max_bytes * 0.9
        for _, size, path in files:
            if total <= target:
                break
            with suppress(FileNotFoundError):
                os.unlink(path)
            total -= size
        return total
