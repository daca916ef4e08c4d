"""A bulk job's own steps, alone: checking and recording 10,000 rows in one thread.

bench/bulk.py measures a job as deployed: the job thread shares its process with the API
and the delivery worker, and the cores with the worker processes that sign and render. This
takes all of that away, to see what the job worker's steps themselves cost: a server with
no workers (`AKOWE_WORKER_ENABLED=0`) takes the job (JSON, with mailData); then this process
runs a JobWorker's steps until none is left, without worker processes, and prints the wall
and CPU seconds of the checking steps (the job `validating`) and of the recording steps
(issued and charged, 250 rows a transaction). `--profile` prints cProfile's view of the
recording steps (it slows them down about a third).

    python bench/job_steps.py [--rows 10000] [--rounds 3] [--database-url URL] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.balance import BIN, free_port, start, wait_ready  # noqa: E402
from bench.bulk import job_body  # noqa: E402
from bench.issue import api, setup  # noqa: E402
from bench.render import background  # noqa: E402
from bench.scratch import scratch_database  # noqa: E402


def submit(env: dict[str, str], rows: int) -> None:
    """A job of `rows` recipients, submitted to a server without workers (then stopped)."""

    def cli(*argv: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(BIN / "akowe"), *argv], env=env, check=True, capture_output=True, text=True
        )
        return json.loads(done.stdout) if "--json" in argv else {}

    cli("db", "upgrade")
    account = cli("accounts", "create", "--email", f"steps{time.time_ns()}@x.io", "--json")
    key = account["apiKey"]
    cli("credits", "add", "--account", account["accountId"], "--amount", str(rows), "--json")
    port = free_port()
    server = start("akowe.main:create_app", port, env, factory=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}/api/users/balance", {"x-api-key": key})
        body = setup(port, key, background("JPEG"))
        bulk = job_body(body, rows, "steps")
        status, answer, _ = api(port, key, "POST", "/api/certificates/bulk", bulk)
        assert status == 202, answer
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_steps(profile: bool) -> dict[str, float]:
    """Run the job's steps here; wall and CPU seconds of checking and of recording."""
    from akowe.config import Settings
    from akowe.jobs.worker import JobWorker

    worker = JobWorker(Settings())
    profiler = cProfile.Profile() if profile else None
    started, cpu = time.perf_counter(), time.process_time()
    checked = checked_cpu = 0.0
    try:
        while (result := worker.run_once()) is not None:
            if result.checked == 0 and not checked:
                checked = time.perf_counter() - started
                checked_cpu = time.process_time() - cpu
                if profiler is not None:
                    profiler.enable()
            assert result.failed == 0, result
    finally:
        if profiler is not None:
            profiler.disable()
        worker.close()
    total, total_cpu = time.perf_counter() - started, time.process_time() - cpu
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return {
        "checked": checked,
        "checked_cpu": checked_cpu,
        "recorded": total - checked,
        "recorded_cpu": total_cpu - checked_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--profile", action="store_true", help="cProfile the recording steps")
    args = parser.parse_args()
    results = []
    for round_ in range(args.rounds):
        with ExitStack() as stack:
            data_dir = tempfile.mkdtemp(prefix="akowe-bench-steps-")
            stack.callback(shutil.rmtree, data_dir, True)
            env = {
                **os.environ,
                "AKOWE_DATA_DIR": data_dir,
                "AKOWE_LOG_LEVEL": "WARNING",
                "AKOWE_SECRET_KEY": secrets.token_urlsafe(32),
                "AKOWE_WORKER_ENABLED": "0",
                "AKOWE_RATE_LIMIT": "1000000/second",
            }
            env.pop("AKOWE_DATABASE_URL", None)
            if args.database_url:
                env["AKOWE_DATABASE_URL"] = stack.enter_context(
                    scratch_database(args.database_url, "steps")
                )
            submit(env, args.rows)
            previous = dict(os.environ)
            os.environ.update(env)  # the JobWorker's Settings read them
            try:
                result = run_steps(args.profile and round_ == args.rounds - 1)
            finally:
                os.environ.clear()
                os.environ.update(previous)
        results.append(result)
        print(
            f"  round {round_ + 1}: checked {result['checked']:.2f} s "
            f"(CPU {result['checked_cpu']:.2f} s), recorded and charged "
            f"{result['recorded']:.2f} s (CPU {result['recorded_cpu']:.2f} s)"
        )
    print(f"\nmedians over {len(results)} rounds, {args.rows:,} rows, one thread, no processes:")
    for name, label in (("checked", "checked"), ("recorded", "recorded and charged")):
        wall = statistics.median(r[name] for r in results)
        cpu = statistics.median(r[f"{name}_cpu"] for r in results)
        print(f"  {label + ':':22} {wall:6.2f} s  (CPU {cpu:.2f} s)")


if __name__ == "__main__":
    main()
