"""`akowe serve` as a newcomer meets it: `--demo` prints a working curl only once the port
answers, a busy port is said plainly, and every log line (akowe's, uvicorn's, httpx's, from
every worker process) is one JSON object without the secret."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import _free_port


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "AKOWE_DATA_DIR": str(tmp_path / "data"),
        "AKOWE_LOG_LEVEL": "INFO",
        "AKOWE_WORKER_ENABLED": "0",
        "COLUMNS": "200",
        # Plain `akowe serve` refuses to start without the key that encrypts signing keys.
        "AKOWE_SECRET_KEY": "test-secret-key-for-signing-keys",
        **extra,
    }
    env.pop("AKOWE_DATABASE_URL", None)
    return env


def _akowe(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "akowe.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _json_lines(stderr: str) -> list[dict[str, Any]]:
    """Every line of the log, each of which must be a JSON object."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    not_json = [line for line in lines if not line.startswith("{")]
    assert not not_json, f"log lines that are not JSON: {not_json}"
    return [json.loads(line) for line in lines]


def test_demo_serve_prints_a_curl_that_answers_ten_credits(tmp_path: Path) -> None:
    port = _free_port()
    proc = _akowe("serve", "--demo", "--port", str(port), env=_env(tmp_path))
    try:
        printed = ""
        deadline = time.monotonic() + 90
        while "--data ''" not in printed:
            assert time.monotonic() < deadline and proc.poll() is None, printed
            printed += proc.stdout.readline()  # type: ignore[union-attr]
        # Pasted the moment it appears, the curl works: it is printed once the port answers.
        key = re.search(r"x-api-key: (live-[0-9a-f-]+)", printed).group(1)  # type: ignore[union-attr]
        curl = printed[printed.index("curl --location") :]
        assert f"http://127.0.0.1:{port}/api/users/balance" in curl
        out = subprocess.run(
            ["bash", "-c", curl.replace("\\\n", " ")], capture_output=True, text=True, timeout=30
        )
        assert out.stdout == '{"success":true,"data":{"balance":10}}', out.stderr
        assert httpx.get(f"http://127.0.0.1:{port}/api/nope").status_code == 404
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    lines = _json_lines(stderr)
    requests = [entry for entry in lines if entry.get("msg") == "request"]
    balance = [r for r in requests if r["path"] == "/api/users/balance"]
    assert balance, stderr
    entry = balance[0]
    assert entry["method"] == "POST" and entry["status"] == 200
    assert entry["key_id"] == key.split("-0-")[0].removeprefix("live-")
    assert isinstance(entry["duration_ms"], float) and entry["request_id"]
    assert any(r["path"] == "/api/nope" and r["status"] == 404 for r in requests)
    assert any(e["logger"] == "uvicorn.error" for e in lines)  # uvicorn's lines are JSON too
    assert key.rsplit("-0-", 1)[1] not in stderr


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another program listens on (and answers, like a stray dev server would)."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


@pytest.mark.parametrize("args", [["--demo"], []], ids=["demo", "plain"])
def test_a_busy_port_is_said_plainly_and_nothing_else_is_printed(
    tmp_path: Path, busy_port: int, args: list[str]
) -> None:
    proc = _akowe("serve", *args, "--port", str(busy_port), env=_env(tmp_path))
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert f"port {busy_port} on 127.0.0.1 is already in use" in stderr
    assert f"--port {busy_port + 1}" in stderr  # and what to do about it
    assert "curl" not in stdout and "Try it" not in stdout
    assert "Traceback" not in stderr
    # Nothing was started, so nothing was created either.
    assert not (tmp_path / "data" / "demo-api-key").exists()


class _Image(BaseHTTPRequestHandler):
    png = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "image/png")
        self.send_header("content-length", str(len(self.png)))
        self.end_headers()
        self.wfile.write(self.png)

    def log_message(self, *args: Any) -> None:
        pass


def test_every_line_is_json_with_several_workers_and_outbound_http(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (160, 113), (245, 240, 228)).save(buffer, "PNG")
    _Image.png = buffer.getvalue()
    images = ThreadingHTTPServer(("127.0.0.1", 0), _Image)
    threading.Thread(target=images.serve_forever, daemon=True).start()
    env = _env(tmp_path, AKOWE_ALLOW_PRIVATE_URLS="1")
    created = subprocess.run(
        [sys.executable, "-m", "akowe.cli", "db", "upgrade"], env=env, capture_output=True
    )
    assert created.returncode == 0, created.stderr
    account = subprocess.run(
        [sys.executable, "-m", "akowe.cli", "accounts", "create", "--email", "w@x.io", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    key = json.loads(account.stdout)["apiKey"]
    port = _free_port()
    proc = _akowe("serve", "--workers", "2", "--port", str(port), env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        # Template creation fetches the image over HTTP with httpx, which logs the request.
        response = httpx.post(
            f"{base}/api/templates",
            headers={"x-api-key": key},
            json={
                "name": "Fetched",
                "imageUrl": f"http://127.0.0.1:{images.server_address[1]}/bg.png",
                "dimensions": {"width": 1600, "height": 1131},
                "fields": [{"type": "name", "fontSize": 40, "x": 50, "y": 50}],
            },
            timeout=30,
        )
        assert response.status_code == 201, response.text
        for _ in range(6):
            httpx.get(f"{base}/api/nope")
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=60)
        images.shutdown()
        images.server_close()
    lines = _json_lines(stderr)
    started = {e["pid"] for e in lines if e["msg"].startswith("Started server process")}
    assert len(started) == 2, stderr  # both workers' uvicorn lines, as JSON
    assert any(e["logger"] == "httpx" and "HTTP Request" in e["msg"] for e in lines), stderr
    assert any(e["logger"] == "akowe.access" and e["status"] == 201 for e in lines)
    assert all({"time", "level", "logger", "pid", "msg"} <= set(e) for e in lines)


def test_serve_migrates_only_when_asked(tmp_path: Path) -> None:
    """Several processes start against one database without racing on migrations: plain
    `akowe serve` leaves the schema alone (`akowe db upgrade` or `--migrate` do it)."""
    port = _free_port()
    data = tmp_path / "data"
    data.mkdir()
    env = _env(tmp_path)
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
