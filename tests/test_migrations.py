"""Migrations build the schema from empty, match the models, and downgrade to empty."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from akowe.config import Settings
from akowe.db import migrate
from akowe.db.engine import make_engine
from akowe.db.models import Base
from tests.conftest import PG_URL, _postgres_database


@pytest.fixture
def empty_settings(tmp_path: Path) -> Iterator[Settings]:
    if PG_URL:
        for url in _postgres_database(PG_URL):
            yield Settings(database_url=url, data_dir=tmp_path)
    else:
        yield Settings(database_url=f"sqlite:///{tmp_path / 'm.db'}", data_dir=tmp_path)


def _tables(settings: Settings) -> set[str]:
    engine = make_engine(settings)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_from_empty_then_downgrade_to_empty(empty_settings: Settings) -> None:
    assert _tables(empty_settings) == set()
    migrate.upgrade(empty_settings)
    assert _tables(empty_settings) == set(Base.metadata.tables)
    engine = make_engine(empty_settings)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"
    migrate.downgrade(empty_settings, "base")
    assert _tables(empty_settings) == set()
    migrate.upgrade(empty_settings)
    assert _tables(empty_settings) == set(Base.metadata.tables)
