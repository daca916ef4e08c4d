"""A scratch PostgreSQL database for one benchmark run: created empty, dropped afterwards,
so runs neither see each other's rows nor leave any behind."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def scratch_database(url: str, name: str) -> Iterator[str]:
    """A new database `akowe_bench_<name>_<pid>` on the server of `url`; its URL."""
    import sqlalchemy as sa

    from akowe.config import normalize_database_url

    admin = sa.create_engine(normalize_database_url(url), isolation_level="AUTOCOMMIT")
    database = f"akowe_bench_{name}_{os.getpid()}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
    try:
        scratch = sa.make_url(normalize_database_url(url)).set(database=database)
        yield scratch.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.dispose()
