"""`Idempotency-Key`: a replay returns the first response and spends nothing more.

The key is claimed in its own short transaction (so a concurrent duplicate sees it and gets
409); the response is stored in the SAME transaction as the certificate, so a stored
response always means a recorded certificate and vice versa. A request that fails releases
its key (nothing was recorded, so retrying with the same key is safe and expected). A claim
left by a crashed process is taken over once its lock expires.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from akowe.accounts.service import Principal
from akowe.certificates.exceptions import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    ValidationFailed,
)
from akowe.certificates.models import IdempotencyKey
from akowe.db.base import utcnow
from akowe.db.database import Database
from akowe.db.statements import Batch, Query

RETENTION = timedelta(hours=48)
LOCK = timedelta(seconds=60)
MAX_KEY_LENGTH = 255
# Printable ASCII, no surrounding spaces (HTTP strips them anyway).
KEY_PATTERN = r"^[!-~](?:[ -~]{0,253}[!-~])?$"
_KEY_RE = re.compile(KEY_PATTERN)


@dataclass(frozen=True, slots=True)
class Replay:
    """The stored first response."""

    status: int
    body: dict[str, Any]


def request_hash(path: str, data: BaseModel) -> str:
    """A hash of the validated request: the same path and the same values give the same hash,
    whatever the JSON's formatting, key order or ignored extra fields."""
    body = data.model_dump(mode="json", by_alias=True)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{path}\n{canonical}".encode()).hexdigest()


def check_key(key: str) -> str:
    """Keys are 1-255 printable ASCII characters (KEY_PATTERN, as documented)."""
    key = key.strip()
    if len(key) > MAX_KEY_LENGTH or not _KEY_RE.match(key):
        raise ValidationFailed.field(
            "Idempotency-Key", f"must be 1-{MAX_KEY_LENGTH} printable ASCII characters"
        )
    return key


def _new_claim(principal: Principal, key: str, fingerprint: str, now: datetime) -> IdempotencyKey:
    return IdempotencyKey(
        account_id=principal.account_id,
        mode=principal.mode,
        key=key,
        request_hash=fingerprint,
        state="processing",
        created_at=now,
        locked_until=now + LOCK,
        expires_at=now + RETENTION,
    )


def claim(db: Database, *, principal: Principal, key: str, fingerprint: str) -> Replay | None:
    """Claim the key for this request, or return the stored response to replay (409/422).

    Blocking: runs its own short transactions (call it from a database thread).
    """
    now = utcnow()
    try:
        db.run_transaction(
            lambda session: session.add(_new_claim(principal, key, fingerprint, now))
        )
        return None
    except IntegrityError:
        pass

    def inspect(session: Session) -> Replay | None:
        row = session.get(
            IdempotencyKey, (principal.account_id, str(principal.mode), key), with_for_update=True
        )
        if row is None or row.expires_at <= now:
            # Expired or released meanwhile: start afresh under this request.
            if row is not None:
                session.delete(row)
                session.flush()
            session.add(_new_claim(principal, key, fingerprint, now))
            return None
        if row.request_hash != fingerprint:
            raise IdempotencyKeyReused()
        if row.state == "done" and row.response_status is not None:
            return Replay(status=row.response_status, body=row.response_body or {})
        if row.locked_until > now:
            raise IdempotencyKeyInUse()
        row.locked_until = now + LOCK  # the first holder crashed: take over
        return None

    return db.run_transaction(inspect)


_IDEMPOTENCY_KEYS = cast(Table, IdempotencyKey.__table__)
COMPLETE: Query[IdempotencyKey] = Query(
    update(_IDEMPOTENCY_KEYS)
    .where(
        _IDEMPOTENCY_KEYS.c.account_id == bindparam("account_id"),
        _IDEMPOTENCY_KEYS.c.mode == bindparam("mode"),
        _IDEMPOTENCY_KEYS.c.key == bindparam("b_key"),
    )
    .values(
        state="done",
        response_status=bindparam("response_status"),
        response_body=bindparam("response_body"),
    ),
    name="complete idempotency key",
)


def queue_complete(
    batch: Batch, *, principal: Principal, key: str, status: int, body: dict[str, Any]
) -> None:
    """Store the response in the caller's batch (the one that records the result)."""
    batch.add(
        COMPLETE,
        account_id=principal.account_id,
        mode=principal.mode,
        b_key=key,
        response_status=status,
        response_body=body,
    )


def release(db: Database, *, principal: Principal, key: str) -> None:
    """Forget a claim whose request failed and recorded nothing (blocking)."""

    def forget(session: Session) -> None:
        session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.account_id == principal.account_id,
                IdempotencyKey.mode == principal.mode,
                IdempotencyKey.key == key,
                IdempotencyKey.state == "processing",
            )
        )

    db.run_transaction(forget)


def purge_expired(session: Session) -> int:
    """Delete keys past their retention; returns how many."""
    expired = session.scalars(
        select(IdempotencyKey.key).where(IdempotencyKey.expires_at <= utcnow())
    ).all()
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= utcnow()))
    return len(expired)
