"""`akowe backup` and `akowe restore`: a backup taken while the service serves, then more
changes, then a restore: the backup's state is back (balance, certificates, revocations)
and its certificates still verify. SQLite's online backup API, or pg_dump / pg_restore."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from akowe.accounts import service as accounts_service
from akowe.config import Settings
from akowe.credits import service as credits_service
from akowe.db import migrate
from akowe.db.engine import make_engine, make_sessionmaker
from akowe.main import create_app
from akowe.modes import Mode
from tests.certificates.conftest import make_issuer
from tests.conftest import SMALL_POOL, AccountFixture, _free_port, serve
from tests.test_cli import akowe as run_cli


def akowe(config: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(config, *args, timeout=120)  # a backup or restore of a whole database


def _account(config: Settings) -> AccountFixture:
    engine = make_engine(config)
    try:
        with make_sessionmaker(engine, write=True).begin() as session:
            account, live = accounts_service.create_account(session, email="backup@example.com")
            test = accounts_service.create_key(session, account_id=account.id, mode=Mode.TEST)
            credits_service.add(
                session,
                account_id=account.id,
                mode=Mode.LIVE,
                amount=10,
                reason="test grant",
                actor="tests",
            )
            return AccountFixture(
                account.id, account.email, live.api_key, test.api_key, live.key.id
            )
    finally:
        engine.dispose()


def test_backup_then_changes_then_restore_brings_the_backup_back(
    fresh_database: Settings, tmp_path: Path
) -> None:
    port = _free_port()
    config = Settings(
        **{
            **fresh_database.model_dump(),
            "port": port,
            "base_url": f"http://127.0.0.1:{port}",
            **SMALL_POOL,
        }
    )
    migrate.upgrade(config)
    account = _account(config)
    backup_file = tmp_path / "akowe.backup"
    with serve(create_app(config), port) as url, httpx.Client(base_url=url, timeout=60) as client:
        issuer = make_issuer(client, account)
        kept = client.post("/api/certificates/issue", headers=issuer.headers, json=issuer.body())
        assert kept.status_code == 201, kept.text
        kept_id = kept.json()["data"]["certificateId"]
        # Signed before the backup: its credential is in the backup too.
        assert client.get(f"/api/certificates/{kept_id}/pdf", headers=issuer.headers).is_success

        made = akowe(config, "backup", str(backup_file))  # online: the service keeps serving
        assert made.returncode == 0, made.stderr
        assert backup_file.stat().st_size > 0

        later = client.post("/api/certificates/issue", headers=issuer.headers, json=issuer.body())
        assert later.status_code == 201
        later_id = later.json()["data"]["certificateId"]
        revoked = client.post(
            f"/api/certificates/{kept_id}/revoke", headers=issuer.headers, json={"reason": "x"}
        )
        assert revoked.status_code == 200, revoked.text
        balance = client.get("/api/users/balance", headers=issuer.headers).json()["data"]
        assert balance == {"balance": 8}

    refused = akowe(config, "restore", str(tmp_path / "missing.backup"), "--yes")
    assert refused.returncode == 1 and "does not exist" in refused.stderr
    restored = akowe(config, "restore", str(backup_file), "--yes")
    assert restored.returncode == 0, restored.stderr

    with serve(create_app(config), port) as url, httpx.Client(base_url=url, timeout=60) as client:
        headers = issuer.headers
        assert client.get("/api/users/balance", headers=headers).json()["data"] == {"balance": 9}
        back = client.get(f"/api/certificates/{kept_id}", headers=headers)
        assert back.status_code == 200 and back.json()["data"]["status"] == "issued"
        assert client.get(f"/api/certificates/{later_id}", headers=headers).status_code == 404
        verdict = client.get(f"/api/public/verify/{kept_id}").json()["data"]
        assert verdict["valid"] is True, verdict
        assert client.get(f"/api/certificates/{kept_id}/pdf", headers=headers).is_success


def test_the_postgresql_commands_keep_the_password_off_the_command_line(
    settings: Settings, tmp_path: Path
) -> None:
    config = Settings(
        **{
            **settings.model_dump(),
            "database_url": "postgresql://akowe:s3cret-pass@db.internal:5432/akowe",
        }
    )
    for command in ("backup", "restore"):
        target = tmp_path / "dump"
        target.write_bytes(b"x")
        shown = akowe(config, command, str(target), "--print")
        assert shown.returncode == 0, shown.stderr
        assert "s3cret-pass" not in shown.stdout
        assert shown.stdout.startswith("PGPASSWORD=... pg_")
        assert "postgresql://akowe@db.internal:5432/akowe" in shown.stdout
