"""Run Alembic migrations programmatically (used by the CLI, `make run` and tests)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from akowe.config import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    """An Alembic config pointing at our migrations and the settings' database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", settings.resolved_database_url.replace("%", "%%"))
    config.attributes["settings"] = settings
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Migrate the database up to `revision`."""
    if settings.resolved_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str = "base") -> None:
    """Migrate the database down to `revision`."""
    command.downgrade(alembic_config(settings), revision)


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where the database stands against this code's migrations."""

    revision: str | None
    ready: bool
    reason: str


@cache
def _known() -> tuple[frozenset[str], frozenset[str]]:
    """This code's head revisions and every revision it knows."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    return frozenset(script.get_heads()), frozenset(r.revision for r in script.walk_revisions())


def schema_state(connection: Connection) -> SchemaState:
    """Whether this code can serve the database: at its head revision, or at a revision it
    does not know (a newer release migrated it first; expand/contract keeps that safe, see
    docs/operations.md). Behind, or never migrated, it cannot."""
    heads, known = _known()
    try:
        current = frozenset(
            row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))
        )
    except DBAPIError:
        return SchemaState(None, False, "the database was never migrated: run akowe db upgrade")
    revision = ",".join(sorted(current)) or None
    if current == heads:
        return SchemaState(revision, True, "at head")
    if current and not current <= known:
        return SchemaState(revision, True, "migrated by a newer release")
    return SchemaState(revision, False, "behind this release: run akowe db upgrade")
