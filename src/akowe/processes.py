"""CPU work in child processes: signing credentials, rendering certificate PDFs with their
emails composed around them, and checking a big bulk file's rows, so that this work never
competes with the API for the interpreter and uses every core.

Signing a credential is 1.5-3 ms of pure Python (pyld canonicalisation); rendering a PDF and
composing its email about 3 ms more. Done by the delivery worker's thread inside `akowe
serve`, it holds the GIL in 5 ms slices while requests wait: measured here, issue p50 went
from 1.5 ms to 8 ms under load. A pool of processes (`AKOWE_WORKER_PROCESSES`, default one
per core; 0 does the work in the worker thread) does the CPU part at a lower scheduling
priority (nice +5: when the cores are busy, requests come first); the worker keeps the
database work and the sending. Children are started with `spawn` (the parent has threads),
import only the modules their work needs, and receive everything over the pool's pipe: the
certificate's data, the encrypted key and the secret to decrypt it, the design.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from functools import partial
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar

from akowe.signing.signer import Signer, dump, sign_certificate

if TYPE_CHECKING:
    from akowe.delivery.email import CertificateMail, Outgoing
    from akowe.jobs.files import Input
    from akowe.jobs.service import CheckTask
    from akowe.rendering import Attachment, CertificateData, TemplateSpec

log = logging.getLogger("akowe.processes")

R = TypeVar("R")

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


@dataclass(frozen=True, slots=True)
class Email:
    """One certificate email to make: its PDF (rendered from `data` with the design `spec_key`
    names, unless `pdf` is already rendered) and the message around it."""

    spec_key: str
    data: CertificateData | None
    attachments: tuple[Attachment, ...]
    mail: CertificateMail
    mail_from: str
    pdf: bytes | None = None


@dataclass(frozen=True, slots=True)
class Made:
    """An email made: the message (the PDF travels inside it only, not twice over the pipe),
    the render's seconds (0 when the PDF was given), or the reason it could not be drawn."""

    message: Outgoing | None = None
    render_seconds: float = 0.0
    problems: tuple[Any, ...] = ()


def make_email(email: Email, spec: TemplateSpec | None) -> Made:
    """Render (if needed) and compose one email, in whichever process."""
    from akowe.delivery.email import outgoing
    from akowe.rendering import UnrenderableText, render_pdf

    pdf, seconds = email.pdf, 0.0
    if pdf is None:
        assert spec is not None and email.data is not None, "nothing to render from"
        started = time.perf_counter()
        try:
            pdf = render_pdf(spec, email.data, strict=True, attachments=email.attachments)
        except UnrenderableText as exc:
            return Made(problems=tuple(exc.problems))
        seconds = time.perf_counter() - started
    return Made(outgoing(email.mail, pdf=pdf, mail_from=email.mail_from), seconds)


@dataclass(frozen=True, slots=True)
class _Packed:
    """A chunk's emails as they cross the pipe back. The PDFs of one design begin with the
    same bytes (the background image), so their messages share a run of base64 lines, ~250 KB
    of a ~275 KB message: `shared` travels once per chunk, and each message without it, as
    the parts before and after it (`cut`: True). Receiving each message whole was a fifth of
    the delivery worker's own time during a class's emails (pipe reads)."""

    shared: bytes
    made: list[Made]
    cut: list[bool]


def _make_emails(specs: dict[str, TemplateSpec | None], emails: list[Email]) -> _Packed:
    from akowe.delivery.email import shared_at, shared_lines

    made = [make_email(email, specs.get(email.spec_key)) for email in emails]
    shared, cut = shared_lines(), []
    for index, result in enumerate(made):
        raw = result.message.raw if shared and result.message else b""
        where = shared_at(raw, shared) if raw else -1
        if where >= 0:
            assert result.message is not None
            parts = (raw[:where], raw[where + len(shared) :])
            made[index] = replace(result, message=replace(result.message, parts=parts))
        cut.append(where >= 0)
    return _Packed(shared if any(cut) else b"", made, cut)


def _unpack(packed: _Packed) -> list[Made]:
    """The chunk's emails whole again (`_Packed`): each in three parts, the shared lines
    between its own (not joined: `Outgoing`)."""
    made = []
    for result, cut in zip(packed.made, packed.cut, strict=True):
        if cut:
            assert result.message is not None
            start, end = result.message.parts
            parts = (start, packed.shared, end)
            result = replace(result, message=replace(result.message, parts=parts))
        made.append(result)
    return made


def _result(future: Future[R], _pool: ProcessPoolExecutor) -> R:
    return future.result()


def _check_rows(task: CheckTask, inputs: list[Input]) -> list[dict[str, Any]]:
    from akowe.jobs.service import check_task

    return check_task(task, inputs)


def _prepare_checking() -> None:
    # The checking code needs the models and services (1.7 s of imports on a slow 2-core
    # machine, 50 MB): imported once a job needs it, not in every child at start. The
    # default family's fonts too (regular and bold, with their script fallbacks): a child
    # that had only signed so far loaded them during its first part of a job's rows.
    import akowe.jobs.service  # noqa: F401
    from akowe.rendering import fonts

    for bold in (False, True):
        fonts.chain(fonts.DEFAULT_FAMILY, bold, False)


def _start_child(base_url: str, secret: str, ttl: int, parent: int) -> None:
    global _signer
    # Requests first: when the cores are busy, the API's process runs before these.
    if hasattr(os, "nice"):
        os.nice(5)
    _signer = Signer(base_url=base_url, secret=secret, status_list_ttl_seconds=ttl)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    # A pool's children wait on a queue whose write end they hold themselves, so a parent
    # killed outright (SIGKILL, the OOM killer) would leave them waiting forever, each holding
    # its memory. Once the parent is gone (the child is reparented, perhaps before it even
    # got here), leave too.
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


PARENT_CHECK_SECONDS = 1.0


def _run_in_child(job: Job) -> str:
    assert _signer is not None, "the child was not initialised"
    return run(job, _signer)


# Emails go to the children in chunks of this many, each chunk with the designs it needs
# (a design's background is a few hundred KB: sent once per chunk, not once per email),
# and come back in order as chunks finish, so the first ones are sent while the rest render.
EMAIL_CHUNK = 8


class WorkProcesses:
    """A lazily started pool of `processes` processes for signing and rendering."""

    def __init__(self, signer: Signer, processes: int) -> None:
        self.signer = signer
        self.processes = processes
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        # The pool whose processes were asked to import the checking code, and their answers.
        self._warming: tuple[ProcessPoolExecutor, list[Future[None]]] | None = None

    def sign(self, jobs: list[Job]) -> list[str]:
        """Sign every job; the credentials' JSON texts, in order."""
        if not jobs:
            return []
        chunk = max(1, len(jobs) // (4 * self.processes))
        return self._using(lambda pool: list(pool.map(_run_in_child, jobs, chunksize=chunk)))

    def emails(
        self, specs: dict[str, TemplateSpec | None], emails: Sequence[Email]
    ) -> Iterator[Made]:
        """Make every email; the results in order, each as soon as its chunk is done."""
        if not emails:
            return
        chunks = [list(emails[i : i + EMAIL_CHUNK]) for i in range(0, len(emails), EMAIL_CHUNK)]

        def submit(pool: ProcessPoolExecutor) -> list[Future[_Packed]]:
            return [
                pool.submit(_make_emails, {e.spec_key: specs.get(e.spec_key) for e in chunk}, chunk)
                for chunk in chunks
            ]

        futures = self._using(submit)
        for future in futures:
            yield from _unpack(self._using(partial(_result, future)))

    def check(self, task: CheckTask, inputs: Sequence[Input]) -> list[dict[str, Any]]:
        """Check a bulk job's rows, split between the processes and this thread; the rows with
        their verdicts, in order (akowe.jobs.service.check_task). A part no process has
        started by the time this thread is done with its own (they are busy rendering, say)
        is taken back and checked here, so this is never much slower than checking here.
        Until the processes have imported the checking code (`ready_to_check`), every row is
        checked here: a part sent to a process still importing waited for it, measured: the
        first step of the first job took 1.9 s instead of 0.1 s."""
        from akowe.jobs.service import check_task

        if not self.ready_to_check():
            return check_task(task, inputs)
        size = -(-len(inputs) // (self.processes + 1))
        mine, *theirs = [list(inputs[i : i + size]) for i in range(0, len(inputs), size)]
        futures = self._using(lambda pool: [pool.submit(_check_rows, task, p) for p in theirs])
        rows = check_task(task, mine)
        for part, future in zip(theirs, futures, strict=True):
            if future.cancel():
                rows += check_task(task, part)
            else:
                rows += self._using(partial(_result, future))
        return rows

    def ready_to_check(self, *, wait: bool = False) -> bool:
        """Whether the processes have imported the checking code; the first call asks them to,
        in the background (once per pool). With `wait`, wait for it."""

        def warm(pool: ProcessPoolExecutor) -> list[Future[None]]:
            with self._lock:
                if self._warming is None or self._warming[0] is not pool:
                    futures = [pool.submit(_prepare_checking) for _ in range(self.processes)]
                    self._warming = (pool, futures)
                return self._warming[1]

        futures = self._using(warm)
        if wait:
            for future in futures:
                self._using(partial(_result, future))
        return all(future.done() for future in futures)

    def _using(self, work: Callable[[ProcessPoolExecutor], R]) -> R:
        executor = self._pool()
        try:
            return work(executor)
        except BrokenProcessPool:
            log.warning("a worker process died; starting new ones")
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
                    initargs=(*self.signer.child_arguments(), os.getpid()),
                )
            return self._executor

    def close(self) -> None:
        """Stop the processes (after the jobs in hand)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
