"""Backups of the database: SQLite through its online backup API, PostgreSQL through
`pg_dump` / `pg_restore` (the custom format, restorable table by table).

The file store is not in the backup: its files are content-addressed and never change or
disappear, so a copy of the files folder (or the bucket) taken after the database backup
holds every file the backup names (docs/operations.md).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from akowe.config import Settings


@dataclass(frozen=True, slots=True)
class Command:
    """An external program to run: its arguments and the extra environment it needs (the
    password travels in PGPASSWORD, never on a command line that `ps` shows)."""

    args: list[str]
    env: dict[str, str]

    def shown(self) -> str:
        """The command as a person would type it (without the password)."""
        prefix = "PGPASSWORD=... " if self.env else ""
        return prefix + " ".join(self.args)


def is_sqlite(settings: Settings) -> bool:
    """Whether the settings' database is embedded SQLite."""
    return settings.resolved_database_url.startswith("sqlite")


def _sqlite_path(settings: Settings) -> Path:
    database = sa.make_url(settings.resolved_database_url).database
    if not database or database == ":memory:":
        raise ValueError("this SQLite database is not a file")
    return Path(database)


def _libpq(settings: Settings) -> tuple[str, dict[str, str]]:
    url = sa.make_url(settings.resolved_database_url)
    env = {"PGPASSWORD": url.password} if url.password else {}
    plain = sa.URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    return plain.render_as_string(hide_password=False), env


def pg_dump_command(settings: Settings, target: Path) -> Command:
    """`pg_dump` of the settings' PostgreSQL database into `target` (custom format)."""
    url, env = _libpq(settings)
    args = ["pg_dump", "--format=custom", "--no-owner", f"--file={target}", f"--dbname={url}"]
    return Command(args, env)


def pg_restore_command(settings: Settings, source: Path) -> Command:
    """`pg_restore` of `source` over the settings' PostgreSQL database, in one transaction."""
    url, env = _libpq(settings)
    args = [
        "pg_restore",
        "--clean",
        "--if-exists",
        "--no-owner",
        "--single-transaction",
        f"--dbname={url}",
        str(source),
    ]
    return Command(args, env)


def backup_sqlite(settings: Settings, target: Path) -> None:
    """Copy the live SQLite database to `target` with the online backup API: a consistent
    snapshot while the service keeps serving. Written beside `target`, then renamed."""
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(_sqlite_path(settings))
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()
    os.replace(partial, target)


def restore_sqlite(settings: Settings, source: Path) -> None:
    """Replace the SQLite database's contents with the backup's, page by page under the
    database's own lock (a process that still has it open sees the restored state)."""
    check = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        if check.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise ValueError(f"{source} is not an intact SQLite database")
        target_path = _sqlite_path(settings)
        target_path.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(target_path)
        try:
            check.backup(target)
        finally:
            target.close()
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{source} is not an SQLite database: {exc}") from exc
    finally:
        check.close()


def program(name: str) -> str | None:
    """The path of an external program, or None when it is not installed."""
    return shutil.which(name)
