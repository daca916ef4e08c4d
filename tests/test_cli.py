"""The `akowe` CLI works on the same data as the server, with the documented flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx

from akowe.config import Settings
from akowe.credits.service import SANDBOX_ALLOWANCE


def akowe(settings: Settings, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AKOWE_DATABASE_URL": settings.resolved_database_url,
        "AKOWE_DATA_DIR": str(settings.data_dir),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "akowe.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_accounts_keys_subaccounts_and_credits(settings: Settings, client: httpx.Client) -> None:
    created = akowe(
        settings,
        "accounts",
        "create",
        "--email",
        "cli@example.com",
        "--name",
        "CLI",
        "--credits",
        "3",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    info = json.loads(created.stdout)
    assert set(info) == {"accountId", "email", "apiKey", "balance"}
    assert info["balance"] == 3
    headers = {"x-api-key": info["apiKey"]}
    assert client.get("/api/users/balance", headers=headers).json()["data"]["balance"] == 3

    added = akowe(
        settings,
        "credits",
        "add",
        "--account",
        info["accountId"],
        "--amount",
        "4",
        "--reason",
        "invoice 7",
    )
    assert added.returncode == 0, added.stderr
    assert client.get("/api/users/balance", headers=headers).json()["data"]["balance"] == 7
    history = akowe(settings, "credits", "history", "--account", info["accountId"])
    assert "invoice 7" in history.stdout

    refused = akowe(settings, "credits", "add", "--account", info["accountId"], "--amount", "-8")
    assert refused.returncode == 1
    assert "Insufficient credits" in refused.stderr

    test_key = akowe(
        settings,
        "keys",
        "create",
        "--account",
        info["accountId"],
        "--test",
        "--expires-in",
        "2",
        "--json",
    )
    key = json.loads(test_key.stdout)
    assert key["apiKey"].startswith(f"test-{key['keyId']}-0-")
    # A new test key can issue at once: the sandbox gets its allowance (test mode spends
    # nothing real).
    assert key["sandboxBalance"] == SANDBOX_ALLOWANCE
    sandbox = client.get("/api/users/balance", headers={"x-api-key": key["apiKey"]})
    assert sandbox.json()["data"]["balance"] == SANDBOX_ALLOWANCE

    listed = akowe(settings, "keys", "list", "--account", info["accountId"])
    assert key["keyId"] in listed.stdout
    assert key["apiKey"].rsplit("-0-", 1)[1] not in listed.stdout

    revoked = akowe(settings, "keys", "revoke", key["keyId"])
    assert revoked.returncode == 0, revoked.stderr
    assert client.get("/api/users/balance", headers={"x-api-key": key["apiKey"]}).status_code == 401

    sub = akowe(
        settings,
        "subaccounts",
        "add",
        "--account",
        info["accountId"],
        "--email",
        "team@example.com",
    )
    assert sub.returncode == 0, sub.stderr
    assert (
        "team@example.com"
        in akowe(settings, "subaccounts", "list", "--account", info["accountId"]).stdout
    )
    scoped = client.get(
        "/api/users/balance", headers={**headers, "x-subaccount-email": "team@example.com"}
    )
    assert scoped.status_code == 200


def test_duplicate_account_email_is_a_clear_error(settings: Settings) -> None:
    first = akowe(settings, "accounts", "create", "--email", "dup@example.com")
    assert first.returncode == 0, first.stderr
    second = akowe(settings, "accounts", "create", "--email", "dup@example.com")
    assert second.returncode == 1
    assert "already exists" in second.stderr
    assert "Traceback" not in second.stderr
