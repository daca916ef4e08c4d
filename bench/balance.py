"""Requests/s of GET /api/users/balance (key check + database read) against a bare Starlette
endpoint returning the same JSON: same uvicorn settings (1 worker), same run, loaded by wrk
from a separate process on loopback. Prints medians and the ratio (goal: >= 0.4 on SQLite).

    python bench/balance.py [--rounds 5] [--duration 5] [--connections 32]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# Both servers run on the event loop `akowe serve` uses (uvloop, accepting every waiting
# connection at once: akowe.api.loop).
LOOP = "akowe.api.loop:new_event_loop"
AKOWE_APP = "akowe.main:create_app"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start(app: str, port: int, env: dict[str, str], factory: bool) -> subprocess.Popen[bytes]:
    """Serve `app` on `port`: akowe's app as deployed (`akowe serve`: its loop, its HTTP
    protocol), any other (the baselines) on a plain uvicorn with the same loop."""
    if app == AKOWE_APP:
        cmd = [str(BIN / "akowe"), "serve", "--port", str(port)]
        return subprocess.Popen(cmd, env=env, cwd=ROOT)
    cmd = [str(BIN / "uvicorn"), app, "--port", str(port), "--workers", "1"]
    cmd += ["--no-access-log", "--log-level", "warning", "--loop", LOOP, "--http", "httptools"]
    if factory:
        cmd.append("--factory")
    return subprocess.Popen(cmd, env=env, cwd=ROOT)


def wrk(url: str, key: str, duration: int, connections: int) -> float:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-H", f"x-api-key: {key}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if match is None or non2xx:
        raise RuntimeError(f"wrk failed or saw errors:\n{out}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    data_dir = tempfile.mkdtemp(prefix="akowe-bench-")
    env = {**os.environ, "AKOWE_DATA_DIR": data_dir, "AKOWE_LOG_LEVEL": "WARNING"}
    env.setdefault("AKOWE_SECRET_KEY", secrets.token_urlsafe(32))
    if args.database_url:
        env["AKOWE_DATABASE_URL"] = args.database_url
    subprocess.run([str(BIN / "akowe"), "db", "upgrade"], env=env, check=True, capture_output=True)
    created = subprocess.run(
        [
            str(BIN / "akowe"),
            "accounts",
            "create",
            "--email",
            f"bench{time.time_ns()}@x.io",
            "--credits",
            "10",
            "--json",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    key = json.loads(created.stdout)["apiKey"]

    akowe_port, bare_port = free_port(), free_port()
    servers = [
        start("akowe.main:create_app", akowe_port, env, factory=True),
        start("bench.bare_app:app", bare_port, env, factory=False),
    ]
    try:
        headers = {"x-api-key": key}
        akowe_url = f"http://127.0.0.1:{akowe_port}/api/users/balance"
        bare_url = f"http://127.0.0.1:{bare_port}/api/users/balance"
        for url in (akowe_url, bare_url):
            wait_ready(url, headers)
        with urllib.request.urlopen(urllib.request.Request(akowe_url, headers=headers)) as r:
            assert json.load(r) == {"success": True, "data": {"balance": 10}}
        wrk(akowe_url, key, 2, args.connections)  # warm-up
        wrk(bare_url, key, 2, args.connections)
        ours, bare, ratios = [], [], []
        for i in range(args.rounds):
            a = wrk(akowe_url, key, args.duration, args.connections)
            b = wrk(bare_url, key, args.duration, args.connections)
            ours.append(a)
            bare.append(b)
            ratios.append(a / b)
            print(
                f"round {i + 1}: akowe {a:8.0f} req/s   bare starlette {b:8.0f} req/s   "
                f"ratio {a / b:.2f}"
            )
        db = "PostgreSQL" if args.database_url else "SQLite"
        print(
            f"\nbalance endpoint ({db}, 1 worker, {args.connections} connections, "
            f"{args.rounds}x{args.duration}s)"
        )
        print(f"  akowe          median {statistics.median(ours):8.0f} req/s")
        print(f"  bare starlette median {statistics.median(bare):8.0f} req/s")
        print(f"  ratio          median {statistics.median(ratios):.2f}  (goal >= 0.40)")
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
