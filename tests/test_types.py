"""Column types: what is written to SQLite must be the text SQLAlchemy's own processors
would write, since rows written either way are compared and ordered as text."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import TypeDecorator

from akowe.config import Settings
from akowe.db.base import UTCDateTime
from akowe.db.engine import make_engine


def test_utc_datetimes_bind_on_sqlite_as_the_dialect_would(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(Settings(database_url=f"sqlite:///{tmp_path / 'types.db'}"))
    dialect = engine.dialect
    column_type = UTCDateTime().dialect_impl(dialect)
    ours = column_type.bind_processor(dialect)
    # SQLAlchemy's composition: process_bind_param, then the SQLite DATETIME processor.
    theirs = TypeDecorator.bind_processor(column_type, dialect)
    assert ours is not None and theirs is not None and ours is not theirs
    rng = random.Random(2026)
    for n in range(20_000):
        offset = timedelta(minutes=rng.randint(-14 * 60, 14 * 60))
        zone = UTC if n % 3 == 0 else timezone(offset)
        value = datetime(
            rng.randint(2, 9998),
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randint(0, 23),
            rng.randint(0, 59),
            rng.randint(0, 59),
            0 if n % 5 == 0 else rng.randint(0, 999_999),  # whole seconds keep ".000000"
            tzinfo=zone,
        )
        assert ours(value) == theirs(value), value
    assert ours(None) is theirs(None) is None
    for process in (ours, theirs):
        with pytest.raises(ValueError, match="naive datetime refused"):
            process(datetime(2026, 11, 26, 12, 0))
    engine.dispose()
