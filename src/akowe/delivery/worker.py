"""The delivery worker: claims outbox messages and sends them, off the event loop.

Besides emails and webhooks it signs credentials (outbox kind `credential`, queued by the
issuing transaction) and, every `credential_repair_interval_seconds`, queues signing for any
certificate still without a credential (older data, a message that ran out of attempts).

It runs in a background thread inside `akowe serve` (unless `AKOWE_WORKER_ENABLED=0`) and
alone as `akowe worker`. Each step is its own short transaction: claim a batch, then for
each message render/compose with a read session, send with no transaction open, and record
the outcome. A batch's live emails (a bulk job sends thousands) go together: their
certificates read at once, their PDFs rendered and messages composed in the worker
processes (akowe.processes, all cores), sent `worker_concurrency` at a time and recorded
per group. A crash between sending and recording means the message is sent again after
its lease: at-least-once, with the same Message-ID / Akowe-Event-Id on every copy. A batch
that runs slow (a hanging SMTP server) does not start a message with less than half its
lease left: it is handed back, so a worker that is still alive never sends what another one
took over when the lease ran out, and only messages in hand when a worker dies (at most
`worker_concurrency`) can arrive twice.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from akowe import metrics
from akowe.certificates import service as certificates_service
from akowe.certificates.models import Certificate
from akowe.certificates.renders import RenderCache
from akowe.certificates.service import Links
from akowe.config import Settings
from akowe.db.base import new_id, utcnow
from akowe.db.database import Database, DatabaseUnavailable, ServiceBusy, TransactionAborted
from akowe.db.engine import make_engine, make_sessionmaker
from akowe.delivery import service as delivery_service
from akowe.delivery.email import (
    DEFAULT_BODY,
    DEFAULT_SUBJECT,
    CertificateMail,
    Mailer,
    Outgoing,
    email_logo,
    make_mailer,
    message_id,
    outgoing,
    render_text,
)
from akowe.delivery.models import OutboxMessage, WebhookEndpoint
from akowe.delivery.webhooks import (
    DeliveryFailed,
    HttpWebhookSender,
    WebhookRequest,
    WebhookSender,
)
from akowe.errors import ServiceError
from akowe.modes import Mode
from akowe.organizations import service as organizations_service
from akowe.processes import Email, WorkProcesses, make_email
from akowe.rendering import Attachment, TemplateSpec
from akowe.signing import service as signing_service
from akowe.storage.store import FileStore, make_store

log = logging.getLogger("akowe.delivery")

# A message, its new status and the outcome's details (error, retry_at, payload).
Outcome = tuple[OutboxMessage, str, dict[str, Any]]


class DeliveryWorker:
    """Sends what the outbox holds; `run_once` for one batch, `start`/`stop` for a thread."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None = None,
        mailer: Mailer | None = None,
        webhook_sender: WebhookSender | None = None,
        store: FileStore | None = None,
        signer: signing_service.Signer | None = None,
    ) -> None:
        self.settings = settings
        self.signer = signer or signing_service.Signer.from_settings(settings)
        self.worker_processes = (
            WorkProcesses(self.signer, settings.worker_processes)
            if settings.worker_processes
            else None
        )
        self._own_engine = engine is None
        # Its own small pool: one connection per sending thread, never shared with requests.
        self.engine = engine or make_engine(
            settings, pool_size=settings.worker_concurrency + 1, max_overflow=2
        )
        self.write_sessions: sessionmaker[Session] = make_sessionmaker(self.engine, write=True)
        self.read_sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        # Signing goes through the same Database interface as requests' on-demand signing.
        self.db = Database(settings, engine=self.engine)
        # One mailer (one SMTP connection) per sending thread.
        self._mailer = mailer
        self._mailers: list[Mailer] = []
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pool = (
            ThreadPoolExecutor(settings.worker_concurrency, thread_name_prefix="akowe-send")
            if settings.worker_concurrency > 1 and mailer is None
            else None
        )
        self.webhooks = webhook_sender or HttpWebhookSender(
            allow_private=settings.allow_private_urls, timeout=settings.webhook_timeout_seconds
        )
        self.store = store or make_store(settings)
        self.renders = RenderCache(
            settings.data_dir / "renders", max_bytes=settings.render_cache_bytes
        )
        self.links = Links(settings.public_base_url)
        self.worker_id = f"{socket.gethostname()[:24]}-{os.getpid()}-{new_id()[:8]}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._next_repair = 0.0
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ running

    def run_once(self) -> int:
        """Claim one batch of due messages and process it; how many were claimed."""
        with self.write_sessions.begin() as session:
            messages = delivery_service.claim(
                session,
                worker_id=self.worker_id,
                now=utcnow(),
                lease=timedelta(seconds=self.settings.delivery_lease_seconds),
                limit=self.settings.worker_batch_size,
                # Credentials before emails and events: a certificate verifies as soon as it
                # is signed, and its email needs the credential in the PDF anyway.
                first=signing_service.CREDENTIAL,
            )
            session.expunge_all()
        signing = [m for m in messages if m.kind == signing_service.CREDENTIAL]
        if signing and not self._stop.is_set():
            done = self._sign_batch(signing)
            messages = [m for m in messages if m.id not in done]
        else:
            done = set()
        emails = [m for m in messages if m.kind == delivery_service.EMAIL and m.mode == Mode.LIVE]
        if len(emails) > 1 and not self._stop.is_set():
            handled = self._email_batch(emails)
            done |= handled
            messages = [m for m in messages if m.id not in handled]
        if self._pool is not None and len(messages) > 1:
            list(self._pool.map(self._process_unless_stopping, messages))
        else:
            for message in messages:
                self._process_unless_stopping(message)
        return len(messages) + len(done)

    def _sign_batch(self, messages: list[OutboxMessage]) -> set[str]:
        """Sign a batch of credentials in one pass and finish their messages in the same
        transaction; the ids of the messages done (the rest go one by one)."""
        done: set[str] = set()

        def finish(session: Session, settled: signing_service.Signed) -> None:
            # The signed ones in one UPDATE per claim (a batch is 128 messages; one UPDATE
            # each was a sixth of the worker's time while a bulk job records), the rest alone.
            now = utcnow()
            done.clear()  # a transaction tried again (a lock cycle broken) starts afresh
            signed: list[OutboxMessage] = []
            for message in messages:
                certificate_id = message.certificate_id or ""
                if certificate_id not in settled:
                    continue
                if settled[certificate_id] is None:
                    delivery_service.finish(
                        session,
                        message=message,
                        status="failed",
                        now=now,
                        error="the certificate no longer exists",
                    )
                else:
                    signed.append(message)
                done.add(message.id)
            if signed:
                delivery_service.finish_sent(session, messages=signed, now=now)

        try:
            with metrics.timed(metrics.SIGNING_SECONDS):
                settled = signing_service.sign_batch(
                    self.db,
                    signer=self.signer,
                    certificate_ids=[m.certificate_id or "" for m in messages],
                    then=finish,
                    processes=self.worker_processes,
                )
        except Exception:
            log.warning("batch signing failed; signing one by one", exc_info=True)
            return set()
        if settled:
            metrics.CREDENTIALS_SIGNED.inc(len(done))
            metrics.DELIVERIES.labels(signing_service.CREDENTIAL, "sent").inc(len(done))
        return done if settled else set()  # empty: rolled back, nothing was finished

    def _email_batch(self, messages: list[OutboxMessage]) -> set[str]:
        """Send a batch of (live) certificate emails: credentials signed in one pass, the
        certificates read in one query, PDFs rendered and messages composed in the worker
        processes, and sent in groups of `worker_concurrency` whose outcomes are recorded in
        one transaction each, so a killed worker repeats at most that many. The ids of the
        messages handled; the others (a missing credential, a failure of the batch) go one
        by one."""
        handled: set[str] = set()
        messages = [m for m in messages if not self._lease_short(m)]
        try:
            prepared, specs, unsigned = self._prepare_emails(messages, handled)
            if unsigned:  # their credentials first (usually signed by now: queued together)
                signing_service.sign_batch(
                    self.db,
                    signer=self.signer,
                    certificate_ids=[m.certificate_id or "" for m in unsigned],
                    processes=self.worker_processes,
                )
                more, more_specs, _ = self._prepare_emails(unsigned, handled)
                prepared += more
                specs.update(more_specs)
            if self.worker_processes is not None:
                made = self.worker_processes.emails(specs, [email for _, _, email in prepared])
            else:
                made = (make_email(email, specs.get(email.spec_key)) for _, _, email in prepared)
            group: list[tuple[OutboxMessage, Outgoing]] = []
            for (message, _name, email), result in zip(prepared, made, strict=True):
                if result.message is None:
                    spec = specs[email.spec_key]
                    assert spec is not None
                    problem = certificates_service.unrenderable_message(spec, result.problems)
                    self._failed(
                        message, f"the certificate cannot be rendered: {problem}", permanent=False
                    )
                    handled.add(message.id)
                    continue
                if email.pdf is None:
                    metrics.RENDER_SECONDS.labels("pdf").observe(result.render_seconds)
                group.append((message, result.message))
                if len(group) >= self.settings.worker_concurrency:
                    self._send_group(group, handled)
                    group = []
            if group:
                self._send_group(group, handled)
        except Exception:
            log.warning("batch of emails failed; the rest go one by one", exc_info=True)
        return handled

    def _prepare_emails(
        self, messages: list[OutboxMessage], handled: set[str]
    ) -> tuple[
        list[tuple[OutboxMessage, str, Email]], dict[str, TemplateSpec | None], list[OutboxMessage]
    ]:
        """What the worker processes need for each email (a message found unsendable is
        recorded and counted as handled): the message, its PDF's cache name, the email; the
        designs; the messages whose certificate has no credential yet."""
        prepared: list[tuple[OutboxMessage, str, Email]] = []
        unsigned: list[OutboxMessage] = []
        specs: dict[str, TemplateSpec | None] = {"": None}
        logos: dict[str | None, bytes | None] = {}
        did_files: dict[str, Attachment | None] = {}  # by signing key, for this batch
        ids = [m.certificate_id or "" for m in messages]
        with self.read_sessions() as session:
            found = session.scalars(select(Certificate).where(Certificate.id.in_(ids)))
            certificates = {certificate.id: certificate for certificate in found}
            for message in messages:
                certificate = certificates.get(message.certificate_id or "")
                try:
                    to = self._recipient(message, certificate)
                except DeliveryFailed as exc:
                    self._failed(message, str(exc), permanent=exc.permanent)
                    handled.add(message.id)
                    continue
                assert certificate is not None
                mail = self._mail(message, certificate, to)
                logo_key = organizations_service.logo_key_of(certificate.organization)
                if logo_key not in logos:
                    logos[logo_key] = organizations_service.logo_image(self.store, logo_key)
                logo = logos[logo_key]
                if logo is not None:
                    mail = replace(mail, logo=email_logo(logo))
                name = certificates_service.render_name(certificate, ".signed.pdf")
                pdf = self.renders.get(name)
                if pdf is not None:
                    prepared.append((message, name, Email("", None, (), mail, self._from, pdf)))
                    continue
                attachments = signing_service.pdf_attachments(
                    session, certificate_id=certificate.id, did_files=did_files
                )
                if attachments is None:
                    unsigned.append(message)
                    continue
                try:
                    spec, data = certificates_service.render_inputs(
                        session, certificate=certificate, store=self.store, links=self.links
                    )
                except ServiceError as exc:
                    self._failed(
                        message,
                        f"the certificate cannot be rendered: {exc.message}",
                        permanent=False,
                    )
                    handled.add(message.id)
                    continue
                specs[spec.key] = spec
                email = Email(spec.key, data, tuple(attachments), mail, self._from)
                prepared.append((message, name, email))
        return prepared, specs, unsigned

    def _send_group(self, group: list[tuple[OutboxMessage, Outgoing]], handled: set[str]) -> None:
        """Send these messages (in parallel with `worker_concurrency` > 1), then record every
        outcome in one transaction. A stopping worker, or one whose lease runs short, hands
        them back unsent.

        The PDFs a batch renders are not kept in the render cache: a class of 10,000 is
        gigabytes of PDFs, which would evict the renders people are downloading, and writing
        them was a fifth of the worker's own time. A recipient who downloads theirs later
        gets the same bytes rendered again (renders are deterministic), once, then cached.
        """
        if self._stop.is_set() or any(self._lease_short(message) for message, _ in group):
            self._release([message for message, _ in group])
            handled.update(message.id for message, _ in group)
            return

        def send(item: tuple[OutboxMessage, Outgoing]) -> Outcome:
            message, outgoing = item
            try:
                self.mailer.send(outgoing)
            except DeliveryFailed as exc:
                return self._failure(message, str(exc), permanent=exc.permanent)
            except Exception as exc:
                log.exception("delivery failed unexpectedly", extra={"outbox_id": message.id})
                return self._failure(
                    message, f"internal error ({type(exc).__name__})", permanent=False
                )
            return message, "sent", {}

        if self._pool is not None and len(group) > 1:
            outcomes = list(self._pool.map(send, group))
        else:
            outcomes = [send(item) for item in group]
        self._record_all(outcomes)
        handled.update(message.id for message, _ in group)

    @property
    def _from(self) -> str:
        return self.settings.mail_from

    @property
    def mailer(self) -> Mailer:
        """This thread's mailer."""
        if self._mailer is not None:
            return self._mailer
        mailer: Mailer | None = getattr(self._local, "mailer", None)
        if mailer is None:
            mailer = make_mailer(self.settings)
            self._local.mailer = mailer
            with self._lock:
                self._mailers.append(mailer)
        return mailer

    def close_mailers(self) -> None:
        """Close every SMTP connection (they reopen on the next message)."""
        with self._lock:
            mailers = [self._mailer] if self._mailer is not None else list(self._mailers)
        for mailer in mailers:
            mailer.close()

    def _process_unless_stopping(self, message: OutboxMessage) -> None:
        if self._stop.is_set() or self._lease_short(message):
            self._release([message])
        else:
            self._process(message)

    def _lease_short(self, message: OutboxMessage) -> bool:
        """Whether less than half of the message's lease is left (its batch ran slow).

        Once the lease runs out another worker may claim and send it; sending it here too
        would be a second copy from a worker that did not die. So it is handed back (a
        no-op if another worker holds it by now) rather than started this late.
        """
        if message.locked_until is None:
            return False
        half = timedelta(seconds=self.settings.delivery_lease_seconds / 2)
        return message.locked_until - utcnow() < half

    def drain(self, max_batches: int = 1000) -> int:
        """Process batches until nothing is due; how many messages were processed."""
        total = 0
        for _ in range(max_batches):
            done = self.run_once()
            if done == 0:
                break
            total += done
        return total

    def run(self) -> None:
        """Loop until `stop()`: process what is due, sleep `worker_poll_interval` when idle
        (or until `wake()`), and repair missing credentials now and then."""
        log.info("delivery worker started", extra={"worker_id": self.worker_id})
        while not self._stop.is_set():
            try:
                if time.monotonic() >= self._next_repair:
                    self._next_repair = (
                        time.monotonic() + self.settings.credential_repair_interval_seconds
                    )
                    self.repair()
                done = self.run_once()
            except TransactionAborted:
                # PostgreSQL aborted the step to break a lock cycle: nothing was written.
                log.warning(
                    "a delivery step was aborted by the database (lock cycle); running it again"
                )
                continue
            except (ServiceBusy, DatabaseUnavailable) as exc:
                log.warning("a delivery step was put off: %s", exc.message)
                done = 0
            except Exception:
                log.exception("delivery worker step failed")
                done = 0
            if done == 0:
                self.close_mailers()
                self._wake.wait(self.settings.worker_poll_interval)
                self._wake.clear()
        log.info("delivery worker stopped", extra={"worker_id": self.worker_id})

    def wake(self) -> None:
        """Look for due messages now (called after an issuance commits in this process)."""
        self._wake.set()

    def repair(self, *, settle_seconds: float = 60.0) -> int:
        """Queue signing for certificates without a credential or a pending signing message
        (issued more than `settle_seconds` ago); how many were queued."""
        before = utcnow() - timedelta(seconds=settle_seconds)
        with self.read_sessions() as session:  # the scan: no write lock held while it reads
            found = signing_service.find_unsigned(session, before=before)
        if not found:
            return 0
        with self.write_sessions.begin() as session:
            queued = signing_service.enqueue_unsigned(session, certificate_ids=found, before=before)
        if queued:
            log.warning("queued missing credentials", extra={"count": queued})
        return queued

    def start(self) -> None:
        """Run the loop in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="akowe-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the message in hand, give back the rest of the batch, release resources."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.close()

    def request_stop(self) -> None:
        """Ask the loop to stop after the message in hand (e.g. from a signal handler)."""
        self._stop.set()
        self._wake.set()

    def close(self) -> None:
        """Close the SMTP connection, the HTTP client and (if owned) the engine."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self.close_mailers()
        close = getattr(self.webhooks, "close", None)
        if close is not None:
            close()
        if self.worker_processes is not None:
            self.worker_processes.close()
        self.db.dispose()
        if self._own_engine:
            self.engine.dispose()

    # ------------------------------------------------------------ one message

    def _process(self, message: OutboxMessage) -> None:
        if message.attempts > self.settings.delivery_max_attempts:
            # Its last lease ran out (the worker died mid-send): no attempts left.
            self._record(message, "failed", error=message.last_error or "the worker stopped")
            return
        try:
            if message.kind == delivery_service.EMAIL:
                self._send_email(message)
            elif message.kind == delivery_service.EVENT:
                self._fan_out(message)
            elif message.kind == delivery_service.WEBHOOK:
                self._send_webhook(message)
            elif message.kind == signing_service.CREDENTIAL:
                self._sign(message)
            else:
                raise DeliveryFailed(f"unknown message kind {message.kind!r}", permanent=True)
        except DeliveryFailed as exc:
            self._failed(message, str(exc), permanent=exc.permanent)
        except Exception as exc:
            log.exception("delivery failed unexpectedly", extra={"outbox_id": message.id})
            self._failed(message, f"internal error ({type(exc).__name__})", permanent=False)

    def _record(self, message: OutboxMessage, status: str, **kwargs: Any) -> None:
        self._record_all([(message, status, kwargs)])

    def _record_all(self, outcomes: list[Outcome]) -> None:
        """Record outcomes in one transaction (and count and log each)."""
        now = utcnow()
        sent = [message for message, status, kw in outcomes if status == "sent" and not kw]
        with self.write_sessions.begin() as session:
            held = delivery_service.finish_sent(session, messages=sent, now=now) if sent else set()
            kept = [
                message.id in held
                if status == "sent" and not kw
                else delivery_service.finish(session, message=message, status=status, now=now, **kw)
                for message, status, kw in outcomes
            ]
        for (message, status, kwargs), still_held in zip(outcomes, kept, strict=True):
            if still_held:
                metrics.DELIVERIES.labels(message.kind, status).inc()
            level = logging.WARNING if status in ("failed", "retrying") else logging.INFO
            log.log(
                level,
                "delivery %s",
                status if still_held else "outcome dropped (claim lost)",
                extra={
                    "outbox_id": message.id,
                    "kind": message.kind,
                    "attempts": message.attempts,
                    "error": kwargs.get("error"),
                },
            )

    def _failed(self, message: OutboxMessage, error: str, *, permanent: bool) -> None:
        self._record_all([self._failure(message, error, permanent=permanent)])

    def _failure(self, message: OutboxMessage, error: str, *, permanent: bool) -> Outcome:
        """The outcome of a failed attempt: `failed` once permanent or out of attempts, else
        `retrying` later."""
        if permanent or message.attempts >= self.settings.delivery_max_attempts:
            return message, "failed", {"error": error}
        return message, "retrying", {"error": error, "retry_at": self._retry_at(message)}

    def _retry_at(self, message: OutboxMessage) -> datetime:
        base = self.settings.delivery_backoff_seconds * 2 ** (message.attempts - 1)
        delay = min(self.settings.delivery_backoff_max_seconds, base)
        # "Equal jitter": at least half the delay, so retries of a burst spread out.
        return utcnow() + timedelta(seconds=delay / 2 + random.uniform(0, delay / 2))

    def _release(self, messages: list[OutboxMessage]) -> None:
        """Hand back claimed, unprocessed messages so another worker need not wait the lease."""
        with self.write_sessions.begin() as session:
            for message in messages:
                session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id == message.id,
                        OutboxMessage.locked_by == message.locked_by,
                    )
                    .values(
                        status="queued" if message.attempts <= 1 else "retrying",
                        attempts=OutboxMessage.attempts - 1,
                        locked_by=None,
                        locked_until=None,
                        next_attempt_at=utcnow(),
                    )
                )

    def _ensure_credential(self, certificate_id: str) -> bool:
        try:
            stored = signing_service.ensure_credential(
                self.db, signer=self.signer, certificate_id=certificate_id
            )
        except ServiceError as exc:
            raise DeliveryFailed(f"signing failed: {exc.message}") from exc
        return stored is not None

    def _sign(self, message: OutboxMessage) -> None:
        """Sign the certificate's credential (once: a signed one is left as it is)."""
        if not self._ensure_credential(message.certificate_id or ""):
            raise DeliveryFailed("the certificate no longer exists", permanent=True)
        self._record(message, "sent")

    def _send_email(self, message: OutboxMessage) -> None:
        settings = self.settings
        # The PDF carries the signed credential: sign it first if the worker has not yet.
        if message.mode == Mode.LIVE:
            self._ensure_credential(message.certificate_id or "")
        with self.read_sessions() as session:
            certificate = session.get(Certificate, message.certificate_id or "")
            to = self._recipient(message, certificate)
            assert certificate is not None
            mail = self._mail(message, certificate, to)
            if certificate.mode == Mode.TEST:
                subject, text, html = render_text(mail)
                captured = {
                    **message.payload,
                    "to": to,
                    "subject": subject,
                    "text": text,
                    "html": html,
                    "messageId": message_id(message.id, settings.mail_from),
                }
                session.close()
                self._record(message, "captured", payload=captured)
                return

            try:
                pdf = certificates_service.pdf(
                    session,
                    certificate=certificate,
                    store=self.store,
                    links=self.links,
                    cache=self.renders,
                )
            except ServiceError as exc:
                # e.g. a font that covered the name was removed: retried, it may come back.
                raise DeliveryFailed(f"the certificate cannot be rendered: {exc.message}") from exc
            logo = organizations_service.logo_image(
                self.store, organizations_service.logo_key_of(certificate.organization)
            )
            if logo is not None:
                mail = replace(mail, logo=email_logo(logo))
        self.mailer.send(outgoing(mail, pdf=pdf, mail_from=settings.mail_from))
        self._record(message, "sent")

    def _recipient(self, message: OutboxMessage, certificate: Certificate | None) -> str:
        """Where the certificate's email goes, or DeliveryFailed (permanent) if it cannot."""
        if certificate is None:
            raise DeliveryFailed("the certificate no longer exists", permanent=True)
        if certificate.status in ("revoked", "erased"):
            raise DeliveryFailed(
                f"the certificate was {certificate.status} before delivery", permanent=True
            )
        to = message.payload.get("to") or certificate.recipient_email
        if not to:
            raise DeliveryFailed("the certificate has no recipient email", permanent=True)
        return str(to)

    def _mail(self, message: OutboxMessage, certificate: Certificate, to: str) -> CertificateMail:
        organization = certificate.organization or {}
        return CertificateMail(
            outbox_id=message.id,
            to=to,
            subject=certificate.mail_subject or DEFAULT_SUBJECT,
            body=certificate.mail_body or DEFAULT_BODY,
            recipient_name=certificate.recipient_name,
            organization_name=organization.get("name"),
            organization_email=organization.get("email"),
            verification_url=self.links.verification_url(certificate.id),
            attributes=dict(certificate.attributes),
            certificate_id=certificate.id,
            sent_at=utcnow(),
        )

    def _fan_out(self, message: OutboxMessage) -> None:
        """One `webhook` message per subscribed endpoint, all in the event's transaction."""
        event = str(message.payload["event"])
        data = dict(message.payload.get("data") or {})
        if "certificateId" in data:
            data["verificationUrl"] = self.links.verification_url(str(data["certificateId"]))
        body = json.dumps(
            {
                "id": message.id,
                "type": event,
                "createdAt": message.payload.get("occurredAt"),
                "mode": message.mode,
                "data": data,
            },
            separators=(",", ":"),
        )
        with self.write_sessions.begin() as session:
            endpoints = delivery_service.subscribed_endpoints(
                session,
                account_id=message.account_id,
                mode=message.mode,
                event=event,
                subaccount_id=message.payload.get("subaccountId"),
            )
            # The claim first: an event taken back meanwhile (e.g. its certificate was
            # erased, which also wipes the payload read above) fans out nothing.
            if not delivery_service.finish(
                session,
                message=message,
                status="sent",
                now=utcnow(),
                payload={**message.payload, "endpoints": len(endpoints)},
            ):
                return
            for endpoint in endpoints:
                delivery_service.enqueue(
                    session,
                    account_id=message.account_id,
                    mode=message.mode,
                    kind=delivery_service.WEBHOOK,
                    certificate_id=message.certificate_id,
                    payload={
                        "webhookId": endpoint.id,
                        "eventId": message.id,
                        "event": event,
                        "body": body,
                    },
                )

    def _send_webhook(self, message: OutboxMessage) -> None:
        with self.read_sessions() as session:
            endpoint = session.get(WebhookEndpoint, str(message.payload.get("webhookId")))
            if endpoint is None:
                raise DeliveryFailed("the webhook endpoint was deleted", permanent=True)
            request = WebhookRequest(
                url=endpoint.url,
                body=str(message.payload["body"]).encode(),
                secret=endpoint.secret,
                event=str(message.payload["event"]),
                event_id=str(message.payload["eventId"]),
                delivery_id=message.id,
            )
        self.webhooks.post(request)
        self._record(message, "sent")
