"""Recipient search (`GET /api/certificates?q=`) with 100,000 certificates in the database,
against a primary-key lookup (`GET /api/certificates/{id}`) measured in the same run.

Certificates (and their search words, exactly as issuing writes them) are inserted straight
into a migrated database; one akowe server (uvicorn, 1 worker) answers sequential requests
from this process on loopback. Targets: search p50 < 20 ms and p95 < 50 ms, on SQLite and on
PostgreSQL (`--database-url postgresql://...`).

    python bench/search.py [--database-url URL] [--certificates 100000] [--requests 300]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.balance import free_port, start, wait_ready  # noqa: E402
from bench.issue import pct  # noqa: E402
from bench.scratch import scratch_database  # noqa: E402

FIRST = [
    "Adéwálé",
    "Ngozi",
    "Chidi",
    "Folasade",
    "Émile",
    "Zoë",
    "Oluwaseun",
    "Amaka",
    "Bola",
    "Tunde",
    "Kemi",
    "Ifeanyi",
    "Aisha",
    "Yusuf",
    "Fatima",
    "Ada",
    "Grace",
    "Samuel",
]
LAST = [
    "Ògúnlé",
    "Okafor",
    "Adeyemi",
    "Bello",
    "Nwosu",
    "Eze",
    "Balogun",
    "Danjuma",
    "Lawal",
    "Obi",
    "Olawale",
    "Uche",
    "Ibrahim",
    "Mensah",
    "Diallo",
    "Moreau",
    "Lovelace",
]
# Common words (thousands of matches each), their combinations, and rare ones (an email's
# number, a name with one).
QUERIES = [
    "ade",
    "ngozi oka",
    "zoe",
    "BELLO",
    "ògún",
    "fatima ibr",
    "lovelace",
    "sam",
    "12345",
    "aisha 777",
]
TARGET_P50_MS, TARGET_P95_MS = 20.0, 50.0


def populate(settings: Any, count: int) -> tuple[str, list[str]]:
    """An account with `count` certificates; its live key and some certificate ids."""
    from sqlalchemy import insert

    from akowe.accounts import service as accounts_service
    from akowe.certificates.models import Certificate, CertificateSearchTerm
    from akowe.certificates.search import terms
    from akowe.db.engine import make_engine, make_sessionmaker

    engine = make_engine(settings)
    sessions = make_sessionmaker(engine, write=True)
    rng = random.Random(15)
    with sessions.begin() as session:
        account, key = accounts_service.create_account(session, email="bench@akowe.local")
        account_id, api_key, key_id = account.id, key.api_key, key.key.id
    start = datetime(2025, 1, 1, tzinfo=UTC)
    ids: list[str] = []
    batch = 5_000
    for offset in range(0, count, batch):
        certificates, words = [], []
        for i in range(offset, min(count, offset + batch)):
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            email = f"{name.split()[0].lower()}.{i}@example.org"
            certificate_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            ids.append(certificate_id)
            certificates.append(
                {
                    "id": certificate_id,
                    "account_id": account_id,
                    "mode": "live",
                    "organization_id": str(uuid.uuid4()),
                    "organization": {"name": "Bench Academy"},
                    "template_id": str(uuid.uuid4()),
                    "template_version": 1,
                    "recipient_name": name,
                    "recipient_email": email,
                    "attributes": {"Course Name": "Typography"},
                    "status": "issued",
                    "issued_at": start + timedelta(seconds=i),
                    "issued_by_key_id": key_id,
                    "email_status": "not_requested",
                    "revision": 1,
                }
            )
            words += [
                {
                    "certificate_id": certificate_id,
                    "term": t,
                    "account_id": account_id,
                    "mode": "live",
                }
                for t in terms(name, email)
            ]
        with sessions.begin() as session:
            session.execute(insert(Certificate.__table__), certificates)
            session.execute(insert(CertificateSearchTerm.__table__), words)
    # Fresh statistics, as autovacuum (PostgreSQL) or `akowe db upgrade` leave them: a table
    # loaded in one go has none until then, and plans made without them are no measure.
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()
    return api_key, rng.sample(ids, 50)


def timed(client: httpx.Client, path: str, params: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    response = client.get(path, params=params)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--certificates", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="akowe-bench-search-"))
    with ExitStack() as stack:
        url = (
            stack.enter_context(scratch_database(args.database_url, "search"))
            if args.database_url
            else f"sqlite:///{data_dir / 'akowe.db'}"
        )
        run(args, data_dir, url)


def run(args: argparse.Namespace, data_dir: Path, url: str) -> None:

    from akowe.config import Settings
    from akowe.db import migrate

    env = {
        **os.environ,
        "AKOWE_DATABASE_URL": url,
        "AKOWE_DATA_DIR": str(data_dir),
        "AKOWE_SECRET_KEY": "bench-search-secret",
        "AKOWE_WORKER_ENABLED": "0",
        "AKOWE_RATE_LIMIT": "1000000/second",
        "AKOWE_LOG_LEVEL": "WARNING",
    }
    settings = Settings(database_url=url, data_dir=data_dir, secret_key="bench-search-secret")
    migrate.upgrade(settings)
    started = time.perf_counter()
    key, ids = populate(settings, args.certificates)
    print(f"{args.certificates} certificates inserted in {time.perf_counter() - started:.1f} s")
    port = free_port()
    server = start("akowe.main:create_app", port, env, factory=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/api/users/balance", {"x-api-key": key})
        with httpx.Client(base_url=base, headers={"x-api-key": key}, timeout=30) as client:
            for query in QUERIES:  # warm up (a rare query may find nothing in a small run)
                found = client.get("/api/certificates", params={"q": query, "limit": "20"})
                assert found.status_code == 200, (query, found.text)
            search, lookup = [], []
            by_query: dict[str, list[float]] = {query: [] for query in QUERIES}
            for i in range(args.requests):
                lookup.append(timed(client, f"/api/certificates/{ids[i % len(ids)]}"))
                query = QUERIES[i % len(QUERIES)]
                search.append(timed(client, "/api/certificates", {"q": query, "limit": "20"}))
                by_query[query].append(search[-1])
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)
    database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(
        "per query p50: "
        + ", ".join(f"{q!r} {statistics.median(ms):.1f} ms" for q, ms in by_query.items())
    )
    p50, p95 = statistics.median(search), pct(search, 95)
    print(
        f"{database}: search p50 {p50:.1f} ms, p95 {p95:.1f} ms; "
        f"id lookup p50 {statistics.median(lookup):.1f} ms, p95 {pct(lookup, 95):.1f} ms; "
        f"ratio p50 {p50 / statistics.median(lookup):.2f}x"
    )
    ok = p50 < TARGET_P50_MS and p95 < TARGET_P95_MS
    print(
        f"targets p50 < {TARGET_P50_MS:.0f} ms, p95 < {TARGET_P95_MS:.0f} ms: "
        f"{'met' if ok else 'MISSED'}"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
