"""Operations endpoints: `/metrics` in Prometheus text format (counted per route template
and status, certificates, renders; the outbox and unfinished bulk rows read from the
database; added up across `--workers N` processes) and `/readyz` (database, schema and file
store) beside `/healthz`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from prometheus_client.parser import text_string_to_metric_families

from akowe.config import Settings
from akowe.db import migrate
from akowe.main import create_app
from tests.certificates.conftest import make_issuer
from tests.conftest import SMALL_POOL, _free_port, serve
from tests.jobs.conftest import bulk_body, recipients
from tests.s3server import S3Server

# This code's head revision and the one before it, from the migrations themselves.
_SCRIPT = ScriptDirectory(str(migrate.MIGRATIONS_DIR))
HEAD = _SCRIPT.get_current_head()
BEFORE_HEAD = _SCRIPT.get_revision(HEAD).down_revision


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, keyed by name and labels (parsed by the client's own
    parser: the text must be valid Prometheus format)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def scrape(client: httpx.Client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def test_metrics_count_requests_by_route_template_and_status(client: httpx.Client, account) -> None:  # type: ignore[no-untyped-def]
    before = scrape(client)
    for _ in range(3):
        assert client.get("/api/users/balance", headers=account.headers()).status_code == 200
    assert client.get("/api/users/balance").status_code == 401
    missing = "/api/certificates/00000000-0000-4000-8000-000000000000"
    assert client.get(missing, headers=account.headers()).status_code == 404
    assert client.get("/no/such/path/at/all").status_code == 404
    after = scrape(client)

    def delta(route: str, status: str) -> float:
        labels = {"method": "GET", "route": route, "status": status}
        name = "akowe_http_requests_total"
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("/api/users/balance", "200") == 3  # the fast path counts as the route
    assert delta("/api/users/balance", "401") == 1
    assert delta("/api/certificates/{certificateId}", "404") == 1
    assert delta("unmatched", "404") == 1
    count = "akowe_http_request_duration_seconds_count"
    labels = {"method": "GET", "route": "/api/users/balance"}
    assert value(after, count, **labels) - value(before, count, **labels) == 4
    # No series per concrete path: a scanner cannot grow the exposition.
    assert "/no/such/path" not in after and "00000000-0000" not in after


def test_metrics_count_certificates_renders_and_the_outbox(
    client: httpx.Client, make_account
) -> None:  # type: ignore[no-untyped-def]
    issuer = make_issuer(client, make_account(credits=5))
    before = scrape(client)
    body = issuer.body()
    issued = client.post("/api/certificates/issue", headers=issuer.headers, json=body)
    assert issued.status_code == 201, issued.text
    certificate_id = issued.json()["data"]["certificateId"]
    pdf = client.get(f"/api/certificates/{certificate_id}/pdf", headers=issuer.headers)
    assert pdf.status_code == 200
    after = scrape(client)
    issued_total = "akowe_certificates_issued_total"
    assert value(after, issued_total, mode="live") - value(before, issued_total, mode="live") == 1
    renders = "akowe_render_seconds_count"
    assert value(after, renders, kind="pdf") - value(before, renders, kind="pdf") == 1
    # The session's server runs no worker: the email waits in the outbox, and its age shows.
    assert value(after, "akowe_outbox_depth", kind="email") >= 1
    assert value(after, "akowe_outbox_oldest_age_seconds", kind="email") >= 0
    assert "akowe_delivery_outcomes_total" in after or "akowe_delivery_outcomes" in after
    assert "akowe_signing_batch_seconds" in after


def test_metrics_show_unfinished_bulk_rows_per_state(client: httpx.Client, make_account) -> None:  # type: ignore[no-untyped-def]
    issuer = make_issuer(client, make_account(credits=10))
    rows = recipients(4)
    rows[1]["email"] = "broken"  # fails validation: a `failed` row from the start
    before = scrape(client)
    submitted = client.post(
        "/api/certificates/bulk", json=bulk_body(issuer, rows), headers=issuer.headers
    )
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["data"]["jobId"]
    # The session's server runs no worker: the valid rows wait.
    queued = scrape(client)

    def delta(text: str, state: str) -> float:
        return value(text, "akowe_bulk_rows", state=state) - value(
            before, "akowe_bulk_rows", state=state
        )

    assert (delta(queued, "pending"), delta(queued, "failed")) == (3, 1)
    assert {"pending", "issued", "failed", "skipped", "cancelled"} <= {
        dict(labels)["state"] for name, labels in samples(queued) if name == "akowe_bulk_rows"
    }
    cancelled = client.post(f"/api/jobs/{job_id}/cancel", headers=issuer.headers)
    assert cancelled.status_code == 200, cancelled.text
    # A finished job's rows leave the gauge (its counts stay on the job).
    after = scrape(client)
    assert all(delta(after, state) == 0 for state in ("pending", "failed", "cancelled"))


def test_metrics_add_up_every_worker_process(settings: Settings, tmp_path: Path, account) -> None:  # type: ignore[no-untyped-def]
    port = _free_port()
    metrics_dir = tmp_path / "metrics"
    env = {
        **os.environ,
        "AKOWE_DATABASE_URL": settings.resolved_database_url,
        "AKOWE_SECRET_KEY": settings.secret_key.get_secret_value() if settings.secret_key else "",
        "AKOWE_DATA_DIR": str(tmp_path / "data"),
        "AKOWE_WORKER_ENABLED": "0",
        "AKOWE_LOG_LEVEL": "WARNING",
        "AKOWE_METRICS_DIR": str(metrics_dir),
        "AKOWE_DB_POOL_SIZE": "2",
        "AKOWE_DB_THREADS": "2",
    }
    command = [sys.executable, "-m", "akowe.cli", "serve", "--port", str(port), "--workers", "2"]
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while len(list(metrics_dir.glob("*.db"))) < 2 or not _up(url):
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
        labels = {"method": "GET", "route": "/api/users/balance", "status": "200"}
        # New connections each time: the kernel hands them to either worker process.
        for _ in range(40):
            answer = httpx.get(f"{url}/api/users/balance", headers=account.headers())
            assert answer.status_code == 200
        pids = {path.name for path in metrics_dir.glob("*.db")}
        assert len({name.rsplit("_", 1)[-1] for name in pids}) >= 2, pids
        # Whichever process answers the scrape, it reports both processes' requests.
        for _ in range(4):
            text = httpx.get(f"{url}/metrics").text
            assert value(text, "akowe_http_requests_total", **labels) == 40
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_readiness_reports_database_schema_and_store(client: httpx.Client) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["status"] == "ready" and data["database"] == "ok" and data["store"] == "ok"
    assert data["revision"] == HEAD


def test_readiness_fails_while_the_object_store_is_unreachable(
    settings: Settings, s3: S3Server
) -> None:
    port = _free_port()
    # A bucket that does not exist stands for a store that refuses us.
    config = Settings(
        **{
            **settings.model_dump(),
            **s3.settings("akowe-no-such-bucket"),
            "port": port,
            "base_url": f"http://127.0.0.1:{port}",
            **SMALL_POOL,
        }
    )
    with serve(create_app(config), port) as url:
        assert httpx.get(f"{url}/healthz").status_code == 200  # alive, but not ready
        answer = httpx.get(f"{url}/readyz")
        assert answer.status_code == 503
        body = answer.json()
        assert body["success"] is False and body["code"] == "not_ready"
        assert "akowe-no-such-bucket" in body["message"]
        assert answer.headers["retry-after"]


def test_schema_readiness_follows_the_migrations(fresh_database: Settings) -> None:
    engine = sa.create_engine(fresh_database.resolved_database_url)
    try:

        def state() -> migrate.SchemaState:
            with engine.connect() as connection:
                return migrate.schema_state(connection)

        never = state()
        assert (never.ready, never.revision) == (False, None)
        assert "akowe db upgrade" in never.reason
        migrate.upgrade(fresh_database, BEFORE_HEAD)
        behind = state()
        assert (behind.ready, behind.revision) == (False, BEFORE_HEAD)
        migrate.upgrade(fresh_database)
        assert state() == migrate.SchemaState(HEAD, True, "at head")
        # A newer release migrated first (expand): this one keeps serving.
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
        assert state() == migrate.SchemaState("0099", True, "migrated by a newer release")
    finally:
        engine.dispose()
