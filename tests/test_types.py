"""Column types: what is written to SQLite must be the text SQLAlchemy's own processors
would write, since rows written either way are compared and ordered as text."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import TypeDecorator

from akowe.config import Settings
from akowe.db.base import UTCDateTime
from akowe.db.engine import make_engine
from tests.datetimes import random_datetimes


def test_utc_datetimes_bind_on_sqlite_as_the_dialect_would(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(Settings(database_url=f"sqlite:///{tmp_path / 'types.db'}"))
    dialect = engine.dialect
    column_type = UTCDateTime().dialect_impl(dialect)
    ours = column_type.bind_processor(dialect)
    # SQLAlchemy's composition: process_bind_param, then the SQLite DATETIME processor.
    theirs = TypeDecorator.bind_processor(column_type, dialect)
    assert ours is not None and theirs is not None and ours is not theirs
    for value in random_datetimes(2026, 20_000):
        assert ours(value) == theirs(value), value
    assert ours(None) is theirs(None) is None
    for process in (ours, theirs):
        with pytest.raises(ValueError, match="naive datetime refused"):
            process(datetime(2026, 11, 26, 12, 0))
    engine.dispose()
