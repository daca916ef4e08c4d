"""Signing in child processes, so its CPU never competes with the API for the interpreter.

Signing a credential is 1.5-3 ms of pure Python (pyld canonicalisation). Done by the delivery
worker's thread inside `akowe serve`, it holds the GIL in 5 ms slices while requests wait:
measured here, issue p50 went from 1.5 ms to 8 ms under load. A small pool of processes
(`AKOWE_SIGNING_PROCESSES`, default 1; 0 signs in the worker thread) does the CPU part; the
worker keeps the database work. Children are started with `spawn` (the parent has threads),
import only the pure signing modules, and receive the certificate's data, the encrypted key
and the secret to decrypt it over the pool's pipe.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from akowe.signing.signer import Signer, dump, sign_certificate

log = logging.getLogger("akowe.signing")

_signer: Signer | None = None  # the child's own


@dataclass(frozen=True, slots=True)
class Job:
    """One credential to sign: the certificate's fields, its key, its status entry."""

    certificate: dict[str, Any]
    key_id: str
    key_private: str
    key_public: str
    list_id: str
    index: int


def run(job: Job, signer: Signer) -> str:
    """Sign one job (in whichever process): the credential's JSON text."""
    key = SimpleNamespace(id=job.key_id, private_key=job.key_private, public_key=job.key_public)
    certificate = SimpleNamespace(**job.certificate)
    return dump(
        sign_certificate(signer, certificate, key=key, list_id=job.list_id, index=job.index)
    )


def _start_child(base_url: str, secret: str, ttl: int) -> None:
    global _signer
    _signer = Signer(base_url=base_url, secret=secret, status_list_ttl_seconds=ttl)


def _run_in_child(job: Job) -> str:
    assert _signer is not None, "the child was not initialised"
    return run(job, _signer)


class SigningProcesses:
    """A lazily started pool of `processes` signing processes."""

    def __init__(self, signer: Signer, processes: int) -> None:
        self.signer = signer
        self.processes = processes
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def sign(self, jobs: list[Job]) -> list[str]:
        """Sign every job; the credentials' JSON texts, in order."""
        if not jobs:
            return []
        executor = self._pool()
        try:
            return list(executor.map(_run_in_child, jobs, chunksize=max(1, len(jobs) // 4)))
        except BrokenProcessPool:
            log.warning("a signing process died; starting new ones")
            with self._lock:
                if self._executor is executor:
                    self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            raise

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_child,
                    initargs=self.signer.child_arguments(),
                )
            return self._executor

    def close(self) -> None:
        """Stop the processes (after the jobs in hand)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
