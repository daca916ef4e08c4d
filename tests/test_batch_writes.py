"""Writes batched in one `Batch` (akowe.db.statements): many rows of one insert go in by COPY
on PostgreSQL. What is read back must be exactly what was written, whichever way it went."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from akowe.db.database import session_reader
from akowe.db.statements import COPY_ROWS, with_defaults
from akowe.delivery import service as delivery_service
from akowe.delivery.models import OutboxMessage
from tests.conftest import AccountFixture


def test_many_rows_of_one_insert_read_back_exactly_as_written(
    db: sessionmaker[Session], account: AccountFixture, database_url: str
) -> None:
    sent_at = datetime(2026, 11, 26, 9, 30, 0, 123456, tzinfo=UTC)
    written = []
    for i in range(COPY_ROWS + 7):
        values = with_defaults(
            OutboxMessage.__table__,  # type: ignore[arg-type]
            {
                "account_id": account.account_id,
                "mode": "test",
                "kind": "batch-test",
                "status": "sent",
                "certificate_id": None,
                # What COPY's text format must escape: tabs, newlines, backslashes, quotes.
                "payload": {"n": i, "name": 'Adéwálé\t"Ògúnlẹ̀"\\\n王', "none": None},
                "last_error": None if i % 2 else f"line one\nline\ttwo \\N {i}",
                "sent_at": sent_at if i % 3 else None,
            },
        )
        written.append(values)
    with db.begin() as session, session_reader(session).batch() as batch:
        for values in written:
            batch.write(delivery_service.INSERT_MESSAGE, **values)
        assert batch.copies() is database_url.startswith("postgresql")
    ids = [values["id"] for values in written]
    try:
        with db() as session:
            found = session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)))
            rows = {row.id: row for row in found}
            read = [
                {
                    column.key: getattr(rows[i], column.key)
                    for column in OutboxMessage.__table__.columns
                }
                for i in ids
            ]
        assert read == written
    finally:
        with db.begin() as session:
            session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))
