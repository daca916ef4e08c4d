"""The outbox: delivery work recorded in the caller's transaction, so it is never lost."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from akowe.delivery.models import OutboxMessage
from akowe.modes import Mode


def enqueue(
    session: Session,
    *,
    account_id: str,
    mode: Mode,
    kind: str,
    payload: dict[str, Any],
    certificate_id: str | None = None,
) -> OutboxMessage:
    """Queue a message; it is sent only if the surrounding transaction commits."""
    message = OutboxMessage(
        account_id=account_id,
        mode=mode,
        kind=kind,
        certificate_id=certificate_id,
        payload=payload,
    )
    session.add(message)
    return message
