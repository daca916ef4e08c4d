"""Alembic environment: runs migrations on the engine our settings describe."""

from __future__ import annotations

from alembic import context

from akowe.config import Settings
from akowe.db.engine import make_engine
from akowe.db.models import Base

config = context.config
settings: Settings = config.attributes.get("settings") or Settings()
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run migrations inside one transaction on a real connection."""
    engine = make_engine(settings)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
