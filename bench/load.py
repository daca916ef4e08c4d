"""Sustained mixed load against 1 and N akowe API processes sharing one database.

The mix a deployment sees: single issues (20%), balance reads (40%), public verification
(20%) and PDF downloads (20%, of certificates issued before the round) from C concurrent
clients spread round-robin over the API processes' ports, for D seconds per round, and one
bulk job of `--bulk-rows` recipients submitted as each round starts (its time from
submission to `completed` is reported as "bulk"). One `akowe worker` process signs and runs
the jobs in the background in both configurations. Rounds alternate
between 1 and N processes (the machine's noise hits both alike); medians are printed, with
p50/p99 per operation and the N/1 throughput ratio.

    python bench/load.py --database-url postgresql://postgres@127.0.0.1:5432/test \\
        [--processes 2] [--rounds 3] [--duration 10] [--connections 16]

Without --database-url it runs on SQLite in a temporary directory (processes then share
one file; PostgreSQL is the configuration that scales out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.balance import BIN, free_port, wait_ready  # noqa: E402
from bench.issue import setup  # noqa: E402
from bench.scratch import scratch_database  # noqa: E402

CREDITS = 1_000_000
MIX = (("issue", 20), ("balance", 40), ("verify", 20), ("pdf", 20))


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


async def bulk_job(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], body: dict[str, Any], rows: int
) -> tuple[float, str | None]:
    """Submit a bulk job and wait until it completes: its seconds, and an error if any."""
    recipients = [
        {
            "name": f"Bulk Student {i}",
            "email": f"bulk-{secrets.token_hex(4)}-{i}@example.com",
            "attributes": body["recipientData"]["attributes"],
        }
        for i in range(rows)
    ]
    job = {
        "organizationId": body["organizationId"],
        "templateId": body["mailData"]["templateId"],
        "recipients": recipients,
    }
    started = time.perf_counter()
    answer = await client.post(f"{url}/api/certificates/bulk", headers=headers, json=job)
    if answer.status_code != 202:
        return time.perf_counter() - started, f"bulk {answer.status_code}"
    job_id = answer.json()["data"]["jobId"]
    while time.perf_counter() - started < 120:
        state = (await client.get(f"{url}/api/jobs/{job_id}", headers=headers)).json()["data"]
        if state["status"] == "completed" and state["counts"]["issued"] == rows:
            return time.perf_counter() - started, None
        if state["status"] in ("completed", "failed", "cancelled"):
            return time.perf_counter() - started, f"bulk {state['status']}"
        await asyncio.sleep(0.1)
    return time.perf_counter() - started, "bulk timeout"


async def run_load(
    urls: list[str], key: str, body: dict[str, Any], certificates: list[str], args: Any
) -> dict[str, Any]:
    """C clients for D seconds and one bulk job; per operation: count, errors, latencies."""
    ops = [name for name, weight in MIX for _ in range(weight)]
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)  # "op status": count
    headers = {"x-api-key": key}
    stop = time.monotonic() + args.duration
    limits = httpx.Limits(max_connections=args.connections)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one_client(n: int) -> None:
            rng = random.Random(n)
            turn = n
            while time.monotonic() < stop:
                url = urls[turn % len(urls)]
                turn += 1
                op = rng.choice(ops)
                started = time.perf_counter()
                if op == "issue":
                    answer = await client.post(
                        f"{url}/api/certificates/issue", headers=headers, json=body
                    )
                    ok = answer.status_code == 201
                elif op == "balance":
                    answer = await client.get(f"{url}/api/users/balance", headers=headers)
                    ok = answer.status_code == 200
                elif op == "verify":
                    certificate = rng.choice(certificates)
                    answer = await client.get(f"{url}/api/public/verify/{certificate}")
                    ok = answer.status_code == 200
                else:
                    certificate = rng.choice(certificates)
                    answer = await client.get(
                        f"{url}/api/certificates/{certificate}/pdf", headers=headers
                    )
                    ok = answer.status_code == 200
                latencies[op].append(time.perf_counter() - started)
                if not ok:
                    errors[f"{op} {answer.status_code}"] += 1

        async def one_job() -> None:
            seconds, error = await bulk_job(client, urls[-1], headers, body, args.bulk_rows)
            latencies["bulk"].append(seconds)
            if error:
                errors[error] += 1

        await asyncio.gather(one_job(), *(one_client(n) for n in range(args.connections)))
    total = sum(len(v) for op, v in latencies.items() if op != "bulk")
    return {
        "throughput": total / args.duration,
        "errors": dict(errors),
        "latencies": {op: values for op, values in latencies.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--processes", type=int, default=2, help="N, compared with 1")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--certificates", type=int, default=20, help="issued before the rounds")
    parser.add_argument("--bulk-rows", type=int, default=200, help="one bulk job per round")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="akowe-bench-load-")
    env = {**os.environ, "AKOWE_DATA_DIR": data_dir, "AKOWE_LOG_LEVEL": "WARNING"}
    env["AKOWE_WORKER_ENABLED"] = "0"  # one `akowe worker` process signs for all
    env.setdefault("AKOWE_SECRET_KEY", secrets.token_urlsafe(32))
    env.setdefault("AKOWE_RATE_LIMIT", "1000000/second")
    # One account makes all the load: its fair share of renders must not refuse it.
    env.setdefault("AKOWE_RENDER_PER_ACCOUNT", "256")
    env.setdefault("AKOWE_RENDER_QUEUE", "256")
    env.setdefault("AKOWE_BASE_URL", "http://127.0.0.1:1")  # one public address for all
    scratch = ExitStack()
    database = None
    if args.database_url:
        database = scratch.enter_context(scratch_database(args.database_url, "load"))
        env["AKOWE_DATABASE_URL"] = database
    else:
        env.pop("AKOWE_DATABASE_URL", None)

    def cli(*argv: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(BIN / "akowe"), *argv], env=env, check=True, capture_output=True, text=True
        )
        return json.loads(done.stdout) if "--json" in argv else {}

    def start_api(port: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(BIN / "akowe"), "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )

    servers: list[subprocess.Popen[bytes]] = []
    try:
        cli("db", "upgrade")
        account = cli("accounts", "create", "--email", "load@x.io", "--credits", "10", "--json")
        key = account["apiKey"]
        cli("credits", "add", "--account", account["accountId"], "--amount", str(CREDITS))
        ports = [free_port() for _ in range(args.processes)]
        servers += [start_api(port) for port in ports]
        for port in ports:
            wait_ready(f"http://127.0.0.1:{port}/healthz", {})
        servers.append(subprocess.Popen([str(BIN / "akowe"), "worker"], env=env, cwd=ROOT))
        import io

        from PIL import Image

        image = io.BytesIO()
        Image.new("RGB", (1600, 1131), (244, 239, 225)).save(image, "JPEG", quality=90)
        body = setup(ports[0], key, image.getvalue())
        certificates = []
        with httpx.Client(timeout=60, headers={"x-api-key": key}) as client:
            for _ in range(args.certificates):
                answer = client.post(
                    f"http://127.0.0.1:{ports[0]}/api/certificates/issue", json=body
                )
                certificates.append(answer.json()["data"]["certificateId"])
            for certificate in certificates:  # signed and rendered once before timing
                for port in ports:
                    client.get(f"http://127.0.0.1:{port}/api/certificates/{certificate}/pdf")

        results: dict[int, list[dict[str, Any]]] = {1: [], args.processes: []}
        for round_number in range(1, args.rounds + 1):
            for count in (1, args.processes):
                urls = [f"http://127.0.0.1:{port}" for port in ports[:count]]
                result = asyncio.run(run_load(urls, key, body, certificates, args))
                results[count].append(result)
                print(
                    f"round {round_number} {count} process(es): {result['throughput']:7.0f} req/s"
                    f"  errors {result['errors'] or 0}",
                    flush=True,
                )

        print(
            f"\n======== {'PostgreSQL' if database else 'SQLite'}, mixed load "
            f"(issue 20%, balance 40%, verify 20%, pdf 20%; a {args.bulk_rows}-row bulk job), "
            f"{args.connections} clients, "
            f"{args.rounds}x{args.duration}s, medians ========"
        )
        medians = {}
        for count, rounds in results.items():
            medians[count] = statistics.median(r["throughput"] for r in rounds)
            pooled: dict[str, list[float]] = defaultdict(list)
            for r in rounds:
                for op, values in r["latencies"].items():
                    pooled[op] += values
            parts = "  ".join(
                f"{op} p50 {pct(v, 50):.1f} p99 {pct(v, 99):.1f} ms" for op, v in pooled.items()
            )
            errors = sum(sum(r["errors"].values()) for r in rounds)
            print(f"{count} process(es): {medians[count]:7.0f} req/s  errors {errors}  {parts}")
        ratio = medians[args.processes] / medians[1]
        print(f"ratio {args.processes} / 1 processes: {ratio:.2f}x (on {os.cpu_count()} cores)")
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
        scratch.close()


if __name__ == "__main__":
    main()
