"""The job worker: runs bulk jobs chunk by chunk, in its own thread.

It runs inside `akowe serve` (with the delivery worker, unless `AKOWE_WORKER_ENABLED=0`) and
in `akowe worker`. Each step is one transaction (akowe.jobs.service.run_chunk), so stopping
or killing it at any moment loses nothing and repeats nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from akowe.config import Settings
from akowe.db.database import Database, DatabaseUnavailable, ServiceBusy, TransactionAborted
from akowe.jobs import service as jobs_service
from akowe.processes import WorkProcesses
from akowe.storage.store import FileStore, make_store

log = logging.getLogger("akowe.jobs")


class JobWorker:
    """Runs job chunks until none is left, then waits for `wake()` or the poll interval."""

    def __init__(
        self,
        settings: Settings,
        *,
        db: Database | None = None,
        store: FileStore | None = None,
        on_chunk: Callable[[], None] | None = None,
        processes: WorkProcesses | None = None,
    ) -> None:
        self.settings = settings
        self._own_db = db is None
        self.db = db or Database(settings)
        self.store = store or make_store(settings)
        self.on_chunk = on_chunk
        # The delivery worker's processes (not owned here): they check big files' rows.
        self.processes = processes
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, job_id: str | None = None) -> jobs_service.ChunkResult | None:
        """One chunk of the job whose turn it is; None when there is nothing to run."""
        result = jobs_service.run_chunk(
            self.db,
            chunk_size=self.settings.job_chunk_size,
            store=self.store,
            job_id=job_id,
            processes=self.processes,
        )
        if result is not None and result.issued and self.on_chunk is not None:
            self.on_chunk()  # the delivery worker signs and sends what was just recorded
        return result

    def drain(self, job_id: str | None = None) -> int:
        """Run chunks until none is left; how many rows were issued."""
        issued = 0
        while not self._stop.is_set():
            result = self.run_once(job_id)
            if result is None:
                break
            issued += result.issued
        return issued

    def run(self) -> None:
        """Loop until `stop()`."""
        log.info("job worker started")
        while not self._stop.is_set():
            try:
                result = self.run_once()
            except TransactionAborted:
                # PostgreSQL aborted the step to break a lock cycle with another transaction:
                # nothing was written, and the other one has gone on. Run it again now.
                log.warning("a job step was aborted by the database (lock cycle); running it again")
                continue
            except (ServiceBusy, DatabaseUnavailable) as exc:
                # Expected now and then (SQLite's write lock held past the busy timeout, the
                # database restarting): nothing was written; the step runs again later.
                log.warning("a job step was put off: %s", exc.message)
                result = None
            except Exception:
                log.exception("job worker step failed")
                result = None
            if result is None:
                self._wake.wait(self.settings.worker_poll_interval)
                self._wake.clear()
        log.info("job worker stopped")

    def wake(self) -> None:
        """Look for jobs now (called when a job is submitted in this process)."""
        self._wake.set()

    def start(self) -> None:
        """Run the loop in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="akowe-jobs", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Stop after the chunk in hand."""
        self._stop.set()
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the chunk in hand and release the database."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.close()

    def close(self) -> None:
        """Release the database connections (if its own)."""
        if self._own_db:
            self.db.dispose()
