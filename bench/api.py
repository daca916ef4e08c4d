"""Requests/s of akowe's ordinary endpoints against a baseline measured in the same run.

One akowe server (uvicorn, N workers) and one baseline server; wrk (1 thread, C connections)
from a separate process on loopback, rounds interleaved endpoint by endpoint, medians printed.

- SQLite: every read endpoint against a bare Starlette endpoint answering the same bytes
  (targets: reads >= 0.15x, balance >= 0.5x); issue throughput at C connections (target
  >= 450/s) and sequential p50 (target < 3 ms).
- PostgreSQL (--database-url postgresql://...): balance and GET /api/certificates/{id} against
  a bare Starlette app running the same queries through a psycopg async pool (target >= 0.7x);
  issue throughput (target >= 400/s); the other reads against the bare endpoint, for the record.

    python bench/api.py [--database-url URL] [--workers 1] [--rounds 3] [--duration 5]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.balance import AKOWE_APP, BIN, LOOP, free_port, wait_ready  # noqa: E402
from bench.issue import WRK_LUA, api, part_latency, setup  # noqa: E402
from bench.issue import wrk as wrk_counted  # noqa: E402
from bench.scratch import scratch_database  # noqa: E402

CREDITS = 1_000_000
READ_TARGET, BALANCE_TARGET, PG_TARGET = 0.15, 0.5, 0.7


def start(app: str, port: int, env: dict[str, str], *, factory: bool, workers: int = 1) -> Any:
    import subprocess

    if app == AKOWE_APP:  # as deployed: akowe's loop, protocol and settings
        cmd = [str(BIN / "akowe"), "serve", "--port", str(port), "--workers", str(workers)]
        return subprocess.Popen(cmd, env=env, cwd=ROOT)
    cmd = [str(BIN / "uvicorn"), app, "--port", str(port), "--workers", str(workers)]
    cmd += ["--no-access-log", "--log-level", "warning", "--loop", LOOP, "--http", "httptools"]
    if factory:
        cmd.append("--factory")
    return subprocess.Popen(cmd, env=env, cwd=ROOT)


def record(port: int, key: str, paths: dict[str, str]) -> dict[str, Any]:
    """The exact bytes akowe answers on each path, for the baseline to replay."""
    out = {}
    for path in paths.values():
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
        request.add_header("x-api-key", key)
        with urllib.request.urlopen(request) as response:
            out[path.split("?")[0]] = {
                "body": base64.b64encode(response.read()).decode(),
                "contentType": response.headers["content-type"],
            }
    return out


def drain_time(sqlite_path: Path, timeout: float = 600) -> float:
    """Seconds until every certificate has its credential (the signing backlog is gone)."""
    import sqlite3

    started = time.monotonic()
    while True:
        with sqlite3.connect(sqlite_path) as conn:
            missing = conn.execute(
                "SELECT count(*) FROM certificate c WHERE NOT EXISTS "
                "(SELECT 1 FROM credential r WHERE r.certificate_id = c.id)"
            ).fetchone()[0]
        if missing == 0 or time.monotonic() - started > timeout:
            return time.monotonic() - started
        time.sleep(0.5)


def main() -> None:
    import subprocess

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--requests", type=int, default=300, help="sequential issues per round")
    parser.add_argument("--only", default="", help="comma-separated endpoint names")
    parser.add_argument("--skip-issue", action="store_true")
    parser.add_argument(
        "--compare-workers",
        type=int,
        default=0,
        help="also measure issue throughput on a second server with this many workers, "
        "interleaved with the first (the issue's 'no slower with --workers 2')",
    )
    parser.add_argument(
        "--worker",
        choices=("off", "thread", "process"),
        default="off",
        help="who signs the credentials issue queues while it is measured: nobody (off, the "
        "default: the request path alone), the worker thread inside the server process "
        "(thread, what `akowe serve` does by default), or a separate `akowe worker` process",
    )
    parser.add_argument(
        "--profile",
        default="",
        help="py-spy the server while wrk loads this endpoint (or `issue`: while wrk issues)",
    )
    parser.add_argument(
        "--profile-out", default="", help="keep the profile's raw (collapsed) stacks in this file"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    postgres = bool(args.database_url)

    data_dir = tempfile.mkdtemp(prefix="akowe-bench-api-")
    env = {**os.environ, "AKOWE_DATA_DIR": data_dir, "AKOWE_LOG_LEVEL": "WARNING"}
    env["AKOWE_WORKER_ENABLED"] = "1" if args.worker == "thread" else "0"
    env.setdefault("AKOWE_SECRET_KEY", secrets.token_urlsafe(32))
    # The rate limit is spent on every request (its cost is measured) but never refuses.
    env.setdefault("AKOWE_RATE_LIMIT", "1000000/second")
    scratch = ExitStack()
    if postgres:
        import sqlalchemy as sa

        database = scratch.enter_context(scratch_database(args.database_url, "api"))
        env["AKOWE_DATABASE_URL"] = database
        env["BENCH_PG_URL"] = (
            sa.make_url(database).set(drivername="postgresql").render_as_string(hide_password=False)
        )
    else:
        env.pop("AKOWE_DATABASE_URL", None)

    def cli(*argv: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(BIN / "akowe"), *argv], env=env, check=True, capture_output=True, text=True
        )
        return json.loads(done.stdout) if "--json" in argv else {}

    servers = []
    try:
        cli("db", "upgrade")
        account = cli("accounts", "create", "--email", "bench@x.io", "--credits", "10", "--json")
        key = account["apiKey"]
        cli("credits", "add", "--account", account["accountId"], "--amount", str(CREDITS))
        port = free_port()
        servers.append(
            start("akowe.main:create_app", port, env, factory=True, workers=args.workers)
        )
        wait_ready(f"http://127.0.0.1:{port}/healthz", {})
        if args.worker == "process":
            servers.append(subprocess.Popen([str(BIN / "akowe"), "worker"], env=env, cwd=ROOT))

        from bench.render import background

        body = setup(port, key, background("JPEG"))
        certificate_ids = []
        for _ in range(25):
            status, issued, _ = api(port, key, "POST", "/api/certificates/issue", body)
            assert status == 201, issued
            certificate_ids.append(issued["data"]["certificateId"])
        paths = {
            "balance": "/api/users/balance",
            "certificate": f"/api/certificates/{certificate_ids[0]}",
            "certificates?limit=20": "/api/certificates?limit=20",
            "organization": f"/api/profile/organization/{body['organizationId']}",
            "templates": "/api/templates",
            "healthz": "/healthz",
        }
        if args.only:
            paths = {k: v for k, v in paths.items() if k in args.only.split(",")}
        replay = Path(data_dir) / "replay.json"
        recorded = {**paths, "balance": "/api/users/balance"}  # the PostgreSQL readiness probe
        replay.write_text(json.dumps(record(port, key, recorded)))
        env["BENCH_REPLAY"] = str(replay)
        bare_port = free_port()
        servers.append(start("bench.bare_app:replay_app", bare_port, env, factory=False))
        wait_ready(f"http://127.0.0.1:{bare_port}{next(iter(paths.values()))}", {})
        pg_port = None
        if postgres:
            pg_port = free_port()
            servers.append(start("bench.bare_app:pg_app", pg_port, env, factory=False))
            wait_ready(f"http://127.0.0.1:{pg_port}/api/users/balance", {"x-api-key": key})

        script = Path(data_dir) / "get.lua"
        script.write_text(WRK_LUA)

        def load(base_port: int, path: str, duration: int) -> float:
            url = f"http://127.0.0.1:{base_port}{path}"
            return float(wrk_counted(url, key, duration, args.connections, script)["rate"])

        baselines = {name: (bare_port, "bare") for name in paths}
        if pg_port is not None:
            for name in ("balance", "certificate"):
                if name in paths:
                    baselines[name] = (pg_port, "bare+psycopg")
        for name, path in paths.items():  # warm-up
            load(port, path, 1)
            load(baselines[name][0], path, 1)
        ours: dict[str, list[float]] = {n: [] for n in paths}
        bare: dict[str, list[float]] = {n: [] for n in paths}
        for i in range(args.rounds):
            for name, path in paths.items():
                a = load(port, path, args.duration)
                b = load(baselines[name][0], path, args.duration)
                ours[name].append(a)
                bare[name].append(b)
                print(
                    f"round {i + 1} {name:24} akowe {a:8.0f}/s  {baselines[name][1]:13} "
                    f"{b:8.0f}/s  ratio {a / b:.3f}",
                    flush=True,
                )

        if args.profile and args.profile != "issue":
            from bench.issue import py_spy, top_frames

            raw = Path(args.profile_out or Path(data_dir) / "profile.raw")
            spy = py_spy(servers[0].pid, args.duration, raw)
            time.sleep(0.5)
            load(port, paths[args.profile], args.duration)
            spy.communicate(timeout=args.duration + 30)
            print(f"\nprofile of {args.profile}:")
            top_frames(raw, 40)

        issue = None
        latency = None
        other_rates: list[float] = []
        backlog_seconds = None
        if not args.skip_issue:
            issue_script = Path(data_dir) / "issue.lua"
            lua_body = json.dumps(json.dumps(body, ensure_ascii=False), ensure_ascii=False)
            issue_script.write_text(
                'wrk.method = "POST"\n'
                f"wrk.body = {lua_body}\n"
                'wrk.headers["Content-Type"] = "application/json"\n' + WRK_LUA
            )
            issue_url = f"http://127.0.0.1:{port}/api/certificates/issue"
            other_url = None
            if args.compare_workers:
                other_port = free_port()
                servers.append(
                    start(
                        "akowe.main:create_app",
                        other_port,
                        env,
                        factory=True,
                        workers=args.compare_workers,
                    )
                )
                wait_ready(f"http://127.0.0.1:{other_port}/healthz", {})
                other_url = f"http://127.0.0.1:{other_port}/api/certificates/issue"
                wrk_counted(other_url, key, 2, args.connections, issue_script)
            wrk_counted(issue_url, key, 2, args.connections, issue_script)
            if args.profile == "issue":
                from bench.issue import profile_issue, top_frames

                raw = Path(args.profile_out or Path(data_dir) / "profile.raw")
                profile_issue(
                    servers[0].pid, port, key, args.duration, args.connections, issue_script, raw
                )
                print("\nprofile of issue:")
                top_frames(raw, 40)
            rates = []
            for i in range(args.rounds):
                result = wrk_counted(issue_url, key, args.duration, args.connections, issue_script)
                if result["s201"] != result["s2xx"]:
                    raise RuntimeError(f"issue answered 2xx other than 201: {result}")
                rates.append(result["rate"])
                print(f"round {i + 1} issue (wrk -c{args.connections}) {result['rate']:8.0f}/s")
                if other_url is not None:
                    other = wrk_counted(
                        other_url, key, args.duration, args.connections, issue_script
                    )
                    other_rates.append(other["rate"])
                    print(
                        f"round {i + 1} issue, {args.compare_workers} workers "
                        f"{other['rate']:8.0f}/s"
                    )
            issue = statistics.median(rates)
            body_file = Path(data_dir) / "issue.json"
            body_file.write_text(json.dumps(body))
            latency = part_latency(port, key, body_file, args.rounds, args.requests)
            if args.worker != "off" and not postgres:
                backlog_seconds = drain_time(Path(data_dir) / "akowe.db")

        db = "PostgreSQL" if postgres else "SQLite"
        print(
            f"\n======== {db}, {args.workers} worker(s), wrk -t1 -c{args.connections}, "
            f"{args.rounds}x{args.duration}s, medians ========"
        )
        for name in paths:
            ratio = statistics.median(a / b for a, b in zip(ours[name], bare[name], strict=True))
            if postgres and name in ("balance", "certificate"):
                target = PG_TARGET
            elif postgres:
                target = None
            else:
                target = BALANCE_TARGET if name == "balance" else READ_TARGET
            verdict = "    " if target is None else ("OK  " if ratio >= target else "MISS")
            goal = f"(goal >= {target}x)" if target is not None else "(for the record)"
            print(
                f"{verdict} {name:24} akowe {statistics.median(ours[name]):8.0f}/s  "
                f"{baselines[name][1]:13} {statistics.median(bare[name]):8.0f}/s  "
                f"ratio {ratio:.3f}  {goal}"
            )
        if issue is not None and latency is not None:
            goal = 400 if postgres else 450
            print(
                f"{'OK  ' if issue >= goal else 'MISS'} issue throughput {issue:8.0f}/s "
                f"(goal >= {goal}/s at {args.connections} connections)"
            )
            if other_rates:
                other_median = statistics.median(other_rates)
                ratios = statistics.median(b / a for a, b in zip(rates, other_rates, strict=True))
                print(
                    f"{'OK  ' if ratios >= 0.95 else 'MISS'} issue with {args.compare_workers} "
                    f"workers {other_median:8.0f}/s, {ratios:.2f}x one worker (goal: no slower)"
                )
            print(
                f"{'OK  ' if latency['issue_p50'] < 3 else 'MISS'} issue p50 "
                f"{latency['issue_p50']:.2f} ms, p95 {latency['issue_p95']:.2f} ms "
                f"(goal p50 < 3 ms; balance p50 {latency['balance_p50']:.2f} ms)"
            )
        if backlog_seconds is not None:
            print(
                f"     signing ({args.worker}) caught up with every issued certificate "
                f"{backlog_seconds:.1f} s after the last issue"
            )
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=15)
        shutil.rmtree(data_dir, ignore_errors=True)
        scratch.close()


if __name__ == "__main__":
    main()
