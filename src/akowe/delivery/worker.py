"""The delivery worker: claims outbox messages and sends them, off the event loop.

Besides emails and webhooks it signs credentials (outbox kind `credential`, queued by the
issuing transaction) and, every `credential_repair_interval_seconds`, queues signing for any
certificate still without a credential (older data, a message that ran out of attempts).

It runs in a background thread inside `akowe serve` (unless `AKOWE_WORKER_ENABLED=0`) and
alone as `akowe worker`. Each step is its own short transaction: claim a batch, then for
each message render/compose with a read session, send with no transaction open, and record
the outcome. A crash between sending and recording means the message is sent again after
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

from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

from akowe import metrics
from akowe.certificates import service as certificates_service
from akowe.certificates.models import Certificate
from akowe.certificates.renders import RenderCache
from akowe.certificates.service import Links
from akowe.config import Settings
from akowe.db.base import new_id, utcnow
from akowe.db.database import Database
from akowe.db.engine import make_engine, make_sessionmaker
from akowe.delivery import service as delivery_service
from akowe.delivery.email import (
    DEFAULT_BODY,
    DEFAULT_SUBJECT,
    CertificateMail,
    Mailer,
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
from akowe.signing import service as signing_service
from akowe.signing.processes import SigningProcesses
from akowe.storage.store import FileStore, make_store

log = logging.getLogger("akowe.delivery")


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
        self.signing_processes = (
            SigningProcesses(self.signer, settings.signing_processes)
            if settings.signing_processes
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
            )
            session.expunge_all()
        signing = [m for m in messages if m.kind == signing_service.CREDENTIAL]
        if signing and not self._stop.is_set():
            done = self._sign_batch(signing)
            messages = [m for m in messages if m.id not in done]
        else:
            done = set()
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
            now = utcnow()
            for message in messages:
                certificate_id = message.certificate_id or ""
                if certificate_id not in settled:
                    continue
                if settled[certificate_id] is None:
                    status, error = "failed", "the certificate no longer exists"
                else:
                    status, error = "sent", None
                delivery_service.finish(
                    session, message=message, status=status, now=now, error=error
                )
                done.add(message.id)

        try:
            with metrics.timed(metrics.SIGNING_SECONDS):
                settled = signing_service.sign_batch(
                    self.db,
                    signer=self.signer,
                    certificate_ids=[m.certificate_id or "" for m in messages],
                    then=finish,
                    processes=self.signing_processes,
                )
        except Exception:
            log.warning("batch signing failed; signing one by one", exc_info=True)
            return set()
        if settled:
            metrics.CREDENTIALS_SIGNED.inc(len(done))
            metrics.DELIVERIES.labels(signing_service.CREDENTIAL, "sent").inc(len(done))
        return done if settled else set()  # empty: rolled back, nothing was finished

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
        with self.write_sessions.begin() as session:
            queued = signing_service.enqueue_unsigned(session, before=before)
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
        if self.signing_processes is not None:
            self.signing_processes.close()
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
        with self.write_sessions.begin() as session:
            kept = delivery_service.finish(
                session, message=message, status=status, now=utcnow(), **kwargs
            )
        if kept:
            metrics.DELIVERIES.labels(message.kind, status).inc()
        level = logging.WARNING if status in ("failed", "retrying") else logging.INFO
        log.log(
            level,
            "delivery %s",
            status if kept else "outcome dropped (claim lost)",
            extra={
                "outbox_id": message.id,
                "kind": message.kind,
                "attempts": message.attempts,
                "error": kwargs.get("error"),
            },
        )

    def _failed(self, message: OutboxMessage, error: str, *, permanent: bool) -> None:
        if permanent or message.attempts >= self.settings.delivery_max_attempts:
            self._record(message, "failed", error=error)
        else:
            self._record(message, "retrying", error=error, retry_at=self._retry_at(message))

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
            if certificate is None:
                raise DeliveryFailed("the certificate no longer exists", permanent=True)
            if certificate.status in ("revoked", "erased"):
                raise DeliveryFailed(
                    f"the certificate was {certificate.status} before delivery", permanent=True
                )
            to = message.payload.get("to") or certificate.recipient_email
            if not to:
                raise DeliveryFailed("the certificate has no recipient email", permanent=True)
            mail = self._mail(message, certificate, str(to))
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
