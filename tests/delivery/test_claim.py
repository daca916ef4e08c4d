"""Claiming outbox messages reads only what it claims, however much the outbox has sent.

The outbox keeps every message it ever sent (a deployment's history grows by a credential and
an email per certificate), and every worker claims from it several times a second while there
is work: a claim that reads the history is a cost that grows without bound. Each statement a
claim runs is explained by the database itself (SQLite's query plan; PostgreSQL's with
sequential scans disabled, so only a missing index can make one) on a migrated database.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from akowe.db.base import utcnow
from akowe.delivery import service as delivery_service
from akowe.delivery.models import OutboxMessage
from akowe.signing.service import CREDENTIAL
from tests.conftest import OwnDatabase

# An index search on the message's kind alone reads every message of that kind ever sent.
_KIND_ONLY = re.compile(r"outbox_message USING (?:COVERING )?INDEX \w+ \(kind=\?\)")


def _message(account_id: str, kind: str, status: str, age: int) -> OutboxMessage:
    at = utcnow() - timedelta(seconds=age)
    return OutboxMessage(
        account_id=account_id,
        mode="live",
        kind=kind,
        payload={},
        status=status,
        attempts=1 if status == "sent" else 0,
        next_attempt_at=at,
        created_at=at,
        sent_at=at if status == "sent" else None,
    )


def _plans(session: Session, statements: list[tuple[str, Any]]) -> list[str]:
    """The database's plan for each statement."""
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    plans = []
    for sql, parameters in statements:
        explain = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
        rows = connection.exec_driver_sql(explain + sql, parameters).all()
        plans.append("\n".join(str(row[-1]) for row in rows))
    return plans


def test_a_claim_reads_the_due_messages_not_the_outboxs_history(
    own_database: OwnDatabase,
) -> None:
    db = own_database.db
    account_id = own_database.make_account().account_id
    with db.begin() as session:
        history = [
            _message(account_id, kind, "sent", age=3600 + n)
            for n in range(300)
            for kind in (CREDENTIAL, delivery_service.EMAIL)
        ]
        # A worker's batch is 128 (`worker_batch_size`): a class's credentials, then emails.
        due = [_message(account_id, CREDENTIAL, "queued", age=600 - n) for n in range(130)]
        due += [
            _message(account_id, delivery_service.EMAIL, "queued", age=30 - n) for n in range(3)
        ]
        session.add_all(history + due)
        session.flush()
        credentials = [m.id for m in due[:130]]
        emails = [m.id for m in due[130:]]

    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, sql: str, parameters: Any, *_: Any) -> None:
        statements.append((sql, parameters))

    engine = db.kw["bind"]
    event.listen(engine, "before_cursor_execute", record)
    try:
        claimed = []
        for _ in range(2):
            with db.begin() as session:
                batch = delivery_service.claim(
                    session,
                    worker_id="test",
                    now=utcnow(),
                    lease=timedelta(minutes=5),
                    limit=128,
                    first=CREDENTIAL,
                )
                claimed.append([m.id for m in batch])
                assert all(m.status == "sending" and m.attempts == 1 for m in batch)
    finally:
        event.remove(engine, "before_cursor_execute", record)

    # Credentials first, oldest first; then the last credentials and the emails.
    assert claimed == [credentials[:128], [*credentials[128:], *emails]]
    assert any("locked_by" in sql for sql, _ in statements)  # the claims' own statements
    outbox = [(sql, parameters) for sql, parameters in statements if "outbox_message" in sql]
    with db.begin() as session:
        plans = _plans(session, outbox)
    assert len(plans) == len(outbox) >= 4
    for plan in plans:
        assert "SCAN outbox_message" not in plan, plan  # SQLite: a full table scan
        assert "Seq Scan on outbox_message" not in plan, plan  # PostgreSQL: the same
        assert not _KIND_ONLY.search(plan), plan
    # The due messages are read in index order, at most a batch per state: sorting them
    # would mean gathering the whole queue first (SQLite's plan says so; PostgreSQL's
    # planner may sort a small table either way).
    candidates = [p for (sql, _), p in zip(outbox, plans, strict=True) if "LIMIT" in sql]
    assert len(candidates) >= 6, candidates  # three states for credentials, three for the rest
    for plan in candidates:
        assert "TEMP B-TREE" not in plan, plan
    # Marking the claimed messages and reading them back look them up by id, not through
    # the queue of every due message.
    marked = [p for (sql, _), p in zip(outbox, plans, strict=True) if "locked_by" in sql]
    assert len(marked) == 4  # two claims, each an UPDATE and a SELECT
    for plan in marked:
        assert "ix_outbox_message_status" not in plan, plan
        assert re.search(r"sqlite_autoindex_outbox_message_1 \(id=\?\)|pk_outbox_message", plan)
