"""Real server processes for tests that need more than the in-thread server: several
processes sharing one database, memory measured from outside, a fuzzer's target."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from akowe.config import Settings
from tests.conftest import _free_port


@dataclass
class ServerProcess:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def rss_bytes(self) -> int:
        """Resident memory of the server process and its children (render helpers)."""
        total = 0
        for pid in (self.process.pid, *_children(self.process.pid)):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except FileNotFoundError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        return total


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    out = []
    for child in map(int, text.split()):
        out += [child, *_children(child)]
    return out


@contextmanager
def server_process(
    settings: Settings, data_dir: Path, log: Path, **env: str
) -> Iterator[ServerProcess]:
    """`akowe.main:create_app` under uvicorn in its own process, on the test database."""
    port = _free_port()
    environment = {
        **os.environ,
        "AKOWE_DATABASE_URL": settings.resolved_database_url,
        # The session's secret: the keys of organizations made by the test server decrypt.
        "AKOWE_SECRET_KEY": settings.secret_key.get_secret_value() if settings.secret_key else "",
        "AKOWE_DATA_DIR": str(data_dir),
        "AKOWE_BASE_URL": f"http://127.0.0.1:{port}",
        "AKOWE_WORKER_ENABLED": "0",
        "AKOWE_LOG_LEVEL": "WARNING",
        # PostgreSQL's connections are shared by everything on the machine.
        "AKOWE_DB_POOL_SIZE": "4",
        "AKOWE_DB_THREADS": "4",
        **env,
    }
    # `akowe serve`, as deployments run it (its uvicorn settings: protocol, timeouts).
    command = [sys.executable, "-m", "akowe.cli", "serve", "--port", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=environment, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, process, log)
    try:
        yield ServerProcess(url, log, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def process_env(settings: Settings, data_dir: Path, **env: str) -> dict[str, str]:
    """The environment of an `akowe` process on the test database, with its own data dir."""
    return {
        **os.environ,
        "AKOWE_DATABASE_URL": settings.resolved_database_url,
        "AKOWE_SECRET_KEY": settings.secret_key.get_secret_value() if settings.secret_key else "",
        "AKOWE_DATA_DIR": str(data_dir),
        "AKOWE_LOG_LEVEL": "WARNING",
        "AKOWE_DB_POOL_SIZE": "4",
        "AKOWE_DB_THREADS": "4",
        **env,
    }


@contextmanager
def worker_process(
    settings: Settings, data_dir: Path, log: Path, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`akowe worker` in its own process (the delivery worker alone), stopped at the end."""
    command = [sys.executable, "-m", "akowe.cli", "worker"]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            env=process_env(settings, data_dir, **env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait (30 s at most) until the server at `url` answers /healthz; kill it otherwise."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError(f"server did not start: {log.read_text()}")
        time.sleep(0.1)
