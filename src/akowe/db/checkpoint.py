"""SQLite's write-ahead log copied into the database file by a thread of its own.

By default SQLite checkpoints on commit: the commit that takes the log past 1,000 pages
copies them into the database file and syncs it before it returns, and meanwhile this
process's other writers wait (akowe.db.engine.write_lock). Measured on a 2-core machine: 1.7
of the 2.0 s a 10,000-row bulk job spent committing was checkpointing. Here each commit only
signals a thread (one per database file and process), which runs a PASSIVE checkpoint (it
never blocks readers or writers) at most every `DELAY_SECONDS`; the thread ends after
`IDLE_SECONDS` without commits and the next commit starts it again. Writers' own checkpoints
start only past `BACKSTOP_PAGES` (engine.py), so the log stays bounded if this thread falls
behind. A checkpoint moves committed pages from one file to the other: it cannot lose or
reorder a transaction.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Final
from urllib.parse import quote

log = logging.getLogger("akowe.db")

DELAY_SECONDS: Final = 0.5  # commits gathered into one checkpoint
IDLE_SECONDS: Final = 30.0
# The log size at which a committing writer checkpoints itself (PRAGMA wal_autocheckpoint).
BACKSTOP_PAGES: Final = 10_000


class Checkpointer:
    """Checkpoints one database file's log a moment after commits, in a daemon thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._written = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0  # PASSIVE checkpoints run (for tests and curiosity)

    def committed(self) -> None:
        """A transaction was committed: checkpoint soon (starts the thread if needed)."""
        self._written.set()
        with self._lock:  # the thread decides to end under it, after looking at the signal
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="akowe-checkpoint", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while True:
                if not self._written.wait(IDLE_SECONDS):
                    with self._lock:
                        if not self._written.is_set():
                            self._thread = None  # the next commit starts a new one
                            return
                    continue
                time.sleep(DELAY_SECONDS)
                self._written.clear()
                try:
                    if connection is None:
                        # `mode=rw`: a file removed meanwhile is not created afresh.
                        connection = sqlite3.connect(f"file:{quote(self.path)}?mode=rw", uri=True)
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:
                    # The file was removed (a test's database), or it is busy: the next
                    # commit tries again, and writers still checkpoint past the backstop.
                    log.debug("checkpoint of the write-ahead log failed: %s", exc)
                    if connection is not None:
                        connection.close()
                        connection = None
        finally:
            if connection is not None:
                connection.close()


_CHECKPOINTERS: dict[str, Checkpointer] = {}
_registry_lock = threading.Lock()


def checkpointer(path: str) -> Checkpointer:
    """The process's checkpointer of the database file at `path`."""
    found = _CHECKPOINTERS.get(path)
    if found is None:
        with _registry_lock:
            found = _CHECKPOINTERS.setdefault(path, Checkpointer(path))
    return found
