"""`akowe serve --demo` on a fresh data directory: prints a working curl, and logs one JSON
line per request without the secret."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import _free_port


def test_demo_serve_prints_a_curl_that_answers_ten_credits(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "AKOWE_DATA_DIR": str(tmp_path / "data"),
        "AKOWE_LOG_LEVEL": "INFO",
        "AKOWE_WORKER_ENABLED": "0",
        "COLUMNS": "200",
    }
    env.pop("AKOWE_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "akowe.cli", "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        printed = ""
        deadline = time.monotonic() + 60
        while "--data ''" not in printed:
            assert time.monotonic() < deadline and proc.poll() is None, printed
            printed += proc.stdout.readline()  # type: ignore[union-attr]
        key = re.search(r"x-api-key: (live-[0-9a-f-]+)", printed).group(1)  # type: ignore[union-attr]
        curl = printed[printed.index("curl --location") :]
        assert f"http://127.0.0.1:{port}/api/users/balance" in curl
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        out = subprocess.run(
            ["bash", "-c", curl.replace("\\\n", " ")], capture_output=True, text=True, timeout=30
        )
        assert out.stdout == '{"success":true,"data":{"balance":10}}'
        assert httpx.get(f"http://127.0.0.1:{port}/api/nope").status_code == 404
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    requests = [entry for entry in lines if entry.get("msg") == "request"]
    balance = [r for r in requests if r["path"] == "/api/users/balance"]
    assert balance, stderr
    entry = balance[0]
    assert entry["method"] == "POST" and entry["status"] == 200
    assert entry["key_id"] == key.split("-0-")[0].removeprefix("live-")
    assert isinstance(entry["duration_ms"], float) and entry["request_id"]
    assert any(r["path"] == "/api/nope" and r["status"] == 404 for r in requests)
    assert key.rsplit("-0-", 1)[1] not in stderr


def test_serve_migrates_only_when_asked(tmp_path: Path) -> None:
    """Several processes start against one database without racing on migrations: plain
    `akowe serve` leaves the schema alone (`akowe db upgrade` or `--migrate` do it)."""
    port = _free_port()
    data = tmp_path / "data"
    data.mkdir()
    env = {**os.environ, "AKOWE_DATA_DIR": str(data), "AKOWE_WORKER_ENABLED": "0"}
    env.pop("AKOWE_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "akowe.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    with sqlite3.connect(data / "akowe.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "alembic_version" not in tables and "certificate" not in tables
