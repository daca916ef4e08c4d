"""SQLite's write-ahead log is checkpointed by a thread, not by the commit that fills it
(akowe.db.checkpoint). These run on an SQLite file of their own in either suite run: the
embedded database is what they are about."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from akowe.config import Settings
from akowe.db import checkpoint
from akowe.db.engine import make_engine
from tests.delivery.conftest import wait_for

BLOB = b"x" * 100_000


def _engine(tmp_path: Path) -> tuple[Engine, Path]:
    path = tmp_path / "checkpoint.db"
    engine = make_engine(Settings(data_dir=tmp_path, database_url=f"sqlite:///{path}"))
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE blob (data BLOB)")
    return engine, path


def _write(engine: Engine, transactions: int) -> None:
    for _ in range(transactions):
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO blob (data) VALUES (?)", (BLOB,))


def _grows_to(path: Path, size: int) -> bool:
    return bool(wait_for(lambda: path.stat().st_size >= size))


def test_the_log_reaches_the_database_file_without_a_writer_checkpointing(
    tmp_path: Path,
) -> None:
    engine, path = _engine(tmp_path)
    try:
        keeper = checkpoint.checkpointer(str(path))
        before = path.stat().st_size
        # 3 MB: under the 4 MB at which SQLite's writers would checkpoint by default, and far
        # under the backstop, so only the thread can move these pages into the file.
        _write(engine, 30)
        wal = Path(f"{path}-wal")
        assert wal.stat().st_size >= 30 * len(BLOB)
        assert _grows_to(path, before + 30 * len(BLOB)), "the log was never checkpointed"
        assert wait_for(lambda: keeper.checkpoints >= 1)  # counted once it has returned
        with engine.connect() as connection:
            count = connection.exec_driver_sql("SELECT count(*) FROM blob").scalar_one()
        assert count == 30
    finally:
        engine.dispose()


def test_the_thread_ends_when_idle_and_the_next_commit_starts_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "IDLE_SECONDS", 0.3)
    monkeypatch.setattr(checkpoint, "DELAY_SECONDS", 0.05)
    engine, path = _engine(tmp_path)
    try:
        keeper = checkpoint.checkpointer(str(path))
        assert wait_for(lambda: keeper._thread is None)  # an idle thread ends
        size = path.stat().st_size
        _write(engine, 10)
        assert keeper._thread is not None
        assert _grows_to(path, size + 10 * len(BLOB)), "no thread checkpointed after a commit"
    finally:
        engine.dispose()
