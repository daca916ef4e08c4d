"""Bulk issuance benchmark: a 10,000-row job against the single issue endpoint, same run.

One `akowe serve` process (uvicorn, its job and delivery workers inside, as deployed) on
SQLite (default) or PostgreSQL (`--database-url`). Per round:

- baseline: one keep-alive client calls POST /api/certificates/issue for `--sample` rows
  (1,000) one after another; its time is scaled to the job's row count; then the bench waits
  until the loop's credentials are signed and its emails sent, so the job starts on an idle
  server;
- the job: POST /api/certificates/bulk with `--rows` recipients (JSON) and mailData, so each
  recipient is emailed the PDF, as classes and conferences are; measured from the
  submission to (a) the 202 (at once: a job over 1,000 rows is checked by the workers),
  (a') every row checked (the job leaves `validating`; printed, no target of its own),
  (b) every row checked, recorded and charged (the job `completed`, polled every 20 ms),
  (c) every credential signed (no signing message left in the outbox), (d) every PDF
  rendered and emailed (no email left in the outbox; the emails the SMTP server accepted are
  counted, each must carry its PDF);
- meanwhile, once the job is recorded (its emails queued), another account issues one
  certificate with mailData through the single issue endpoint: (e) the seconds from that
  issue to its email being accepted by the SMTP server, while the job's emails still go out
  (served first come, first served, it would wait for all of them);
- and while the job is checked and recorded, that other account issues single certificates
  (not emailed) one after another, a pause of 50 ms between them: (f) their latencies, p50, p99
  and worst: on SQLite a single issue waits for the job's transaction in hand (one writer at
  a time), so this is what a bigger chunk costs everyone else.

Emails go over SMTP, as deployed, to a loopback server standing in for the relay
(bench/smtp_sink.py: it takes a message for ~0.1 ms of CPU; aiosmtpd takes ~7 ms).
`--mailer files` uses the development mailer instead (no AKOWE_SMTP_URL: each message
written to a file in the data directory; here a 280 KB file costs ~0.9 ms of kernel time).

Prints each round and the medians; checks that the balance fell by exactly one credit per
certificate. Targets (2 cores): (b) < 5 s, (d) < 30 s, (b) at least 5x faster than the
scaled baseline.

    python bench/bulk.py [--rows 10000] [--sample 1000] [--rounds 3] [--database-url URL]
        [--mailer smtp|files]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import smtp_sink  # noqa: E402
from bench.balance import BIN, free_port, start, wait_ready  # noqa: E402
from bench.issue import api, balance_of, py_spy, setup, top_frames  # noqa: E402
from bench.names import class_names  # noqa: E402
from bench.scratch import scratch_database  # noqa: E402

CREDITS = 1_000_000


def baseline(port: int, key: str, body: dict[str, Any], count: int, tag: str) -> float:
    """Seconds for `count` single issues from one keep-alive client."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"x-api-key": key, "content-type": "application/json"}
    started = time.perf_counter()
    for i in range(count):
        one = json.loads(json.dumps(body))
        one["recipientData"]["email"] = f"single-{tag}-{i}@example.com"
        conn.request("POST", "/api/certificates/issue", body=json.dumps(one), headers=headers)
        response = conn.getresponse()
        raw = response.read()
        assert response.status == 201, raw[:500]
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def waiting(engine: Any, kind: str) -> int:
    """Outbox messages of `kind` not yet done (credential: signing; email: render and send)."""
    from sqlalchemy import text

    with engine.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT count(*) FROM outbox_message WHERE kind = :kind "
                    "AND status IN ('queued', 'retrying', 'sending')"
                ),
                {"kind": kind},
            ).scalar_one()
        )


def unsigned(engine: Any) -> int:
    return waiting(engine, "credential")


def settle(engine: Any) -> None:
    """Wait until the single issues' credentials are signed and their emails sent: the job is
    measured on an idle server, its emailed time counting its own emails only (the loop's
    1,000 renders used to share the worker processes with the job's first seconds)."""
    while unsigned(engine) or waiting(engine, "email"):
        time.sleep(0.1)


class Meanwhile(threading.Thread):
    """Single issues by another account, one after another with a pause, until stopped: their
    latencies in seconds."""

    def __init__(self, port: int, key: str, body: dict[str, Any], tag: str) -> None:
        super().__init__(daemon=True)
        self.port, self.key, self.body, self.tag = port, key, body, tag
        self.latencies: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"x-api-key": self.key, "content-type": "application/json"}
        one = self.body  # mailData names the template only: no subject, so no email
        number = 0
        while not self.done.wait(0.05):
            number += 1
            recipient = {**one["recipientData"], "email": f"meanwhile-{self.tag}-{number}@x.io"}
            started = time.perf_counter()
            conn.request(
                "POST",
                "/api/certificates/issue",
                body=json.dumps({**one, "recipientData": recipient}),
                headers=headers,
            )
            response = conn.getresponse()
            raw = response.read()
            self.latencies.append(time.perf_counter() - started)
            assert response.status == 201, raw[:500]
        conn.close()

    def stop(self) -> dict[str, float]:
        self.done.set()
        self.join(timeout=60)
        ordered = sorted(self.latencies) or [0.0]
        return {
            "meanwhile_p50": statistics.median(ordered),
            "meanwhile_p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
            "meanwhile_max": ordered[-1],
            "meanwhile_count": float(len(self.latencies)),
        }


def job_body(body: dict[str, Any], rows: int, tag: str) -> dict[str, Any]:
    """A bulk request for `rows` recipients (a class's distinct names) of the single issue
    `body`'s organization and template, sent by email, as classes and conferences are: each
    recipient gets the PDF."""
    recipients = [
        {
            "name": name,
            "email": f"bulk-{tag}-{i}@example.com",
            "attributes": body["recipientData"]["attributes"],
        }
        for i, name in enumerate(class_names(rows))
    ]
    return {
        "organizationId": body["organizationId"],
        "mailData": {
            "templateId": body["mailData"]["templateId"],
            "subject": "Your certificate",
            "body": "Dear {{recipientName}}, your certificate is attached.",
        },
        "recipients": recipients,
    }


def run_job(
    port: int,
    key: str,
    body: dict[str, Any],
    rows: int,
    tag: str,
    engine: Any,
    mailed: Callable[[str], int],
    other: tuple[str, dict[str, Any]],
) -> dict[str, float]:
    bulk = job_body(body, rows, tag)
    before = balance_of(port, key)
    other_key, other_body = other
    meanwhile = Meanwhile(port, other_key, other_body, tag)
    started = time.perf_counter()
    meanwhile.start()
    status, answer, _ = api(port, key, "POST", "/api/certificates/bulk", bulk)
    accepted = time.perf_counter() - started
    assert status == 202, answer
    job_id = answer["data"]["jobId"]
    checked = None
    while True:
        status, job, _ = api(port, key, "GET", f"/api/jobs/{job_id}")
        assert status == 200, job
        if checked is None and job["data"]["status"] != "validating":
            checked = time.perf_counter() - started
        if job["data"]["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.02)
    recorded = time.perf_counter() - started
    singles = meanwhile.stop()
    counts = job["data"]["counts"]
    assert counts["issued"] == rows, counts
    charged = before - balance_of(port, key)
    assert charged == rows, f"charged {charged} for {rows} rows"
    probe = {
        **other_body,
        "recipientData": {**other_body["recipientData"], "email": f"probe-{tag}@example.com"},
        "mailData": {**bulk["mailData"], "templateId": other_body["mailData"]["templateId"]},
    }
    issued_at = time.perf_counter()
    status, answer, _ = api(port, other_key, "POST", "/api/certificates/issue", probe)
    assert status == 201, answer
    signed = emailed = probed = None
    while signed is None or emailed is None or probed is None:
        now = time.perf_counter() - started
        if probed is None and mailed(f"probe-{tag}@"):
            probed = time.perf_counter() - issued_at
        if signed is None and not unsigned(engine):
            signed = now
        if emailed is None and not waiting(engine, "email"):
            emailed = now
        time.sleep(0.1)
    assert mailed(f"bulk-{tag}-") == rows, f"{mailed(f'bulk-{tag}-')} emails for {rows} rows"
    return {
        "probe": probed,
        "probe_at": issued_at - started,
        "accepted": accepted,
        "checked": checked,
        "recorded": recorded,
        "signed": signed,
        "emailed": emailed,
        **singles,
    }


def filed(data_dir: str, prefix: str) -> int:
    """Emails the development mailer wrote for recipients starting with `prefix`, each with
    its PDF attached."""
    count = 0
    for path in (Path(data_dir) / "outbox-mail").glob("*.eml"):
        head = path.read_bytes()
        if f"To: {prefix}".encode() in head[:4096] and b"application/pdf" in head:
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument(
        "--mailer",
        choices=("smtp", "files"),
        default="smtp",
        help="smtp: a loopback SMTP server (bench/smtp_sink.py), as deployed; files: the "
        "development mailer's .eml files",
    )
    parser.add_argument(
        "--profile",
        default="",
        help="py-spy the server and its worker processes for --profile-seconds from each "
        "job's submission; raw stacks to this file (the last round's), top frames printed",
    )
    parser.add_argument("--profile-seconds", type=int, default=8)
    parser.add_argument(
        "--profile-after",
        type=float,
        default=0.0,
        help="start profiling this many seconds after the submission (the email phase, say)",
    )
    args = parser.parse_args()
    with ExitStack() as stack:
        database_url = (
            stack.enter_context(scratch_database(args.database_url, "bulk"))
            if args.database_url
            else None
        )
        run(args, database_url)


def run(args: argparse.Namespace, database_url: str | None) -> None:
    from sqlalchemy import create_engine

    from bench.render import background

    data_dir = tempfile.mkdtemp(prefix="akowe-bench-bulk-")
    env = {**os.environ, "AKOWE_DATA_DIR": data_dir, "AKOWE_LOG_LEVEL": "WARNING"}
    env.setdefault("AKOWE_SECRET_KEY", secrets.token_urlsafe(32))
    env["AKOWE_RATE_LIMIT"] = "1000000/second"  # the baseline loop is not to be throttled
    env.pop("AKOWE_DATABASE_URL", None)
    env.pop("AKOWE_SMTP_URL", None)
    if database_url:
        env["AKOWE_DATABASE_URL"] = database_url
    url = database_url or f"sqlite:///{data_dir}/akowe.db"
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)

    def cli(*argv: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(BIN / "akowe"), *argv], env=env, check=True, capture_output=True, text=True
        )
        return json.loads(done.stdout) if "--json" in argv else {}

    cli("db", "upgrade")
    account = cli(
        "accounts", "create", "--email", f"bench{time.time_ns()}@x.io", "--json"
    )  # fmt: skip
    key, account_id = account["apiKey"], account["accountId"]
    cli("credits", "add", "--account", account_id, "--amount", str(CREDITS), "--json")

    mailed: Callable[[str], int] = partial(filed, data_dir)
    sink = None
    if args.mailer == "smtp":
        sink_port = free_port()
        sink = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "smtp_sink.py"), str(sink_port)]
        )
        env["AKOWE_SMTP_URL"] = f"smtp://127.0.0.1:{sink_port}"
        mailed = partial(smtp_sink.count, sink_port)

    port = free_port()
    server = start("akowe.main:create_app", port, env, factory=True)
    engine = create_engine(url)
    print(f"server pid {server.pid} on port {port}, {url.split('://')[0]}, data dir {data_dir}")
    results: list[dict[str, float]] = []

    def profile_later(spies: list[subprocess.Popen[bytes]]) -> None:
        spies.append(
            py_spy(server.pid, args.profile_seconds, Path(args.profile), subprocesses=True)
        )

    try:
        wait_ready(f"http://127.0.0.1:{port}/api/users/balance", {"x-api-key": key})
        body = setup(port, key, background("JPEG"))
        other = cli("accounts", "create", "--email", f"other{time.time_ns()}@x.io", "--json")
        cli("credits", "add", "--account", other["accountId"], "--amount", "100000", "--json")
        other_body = setup(port, other["apiKey"], background("JPEG"))
        baseline(port, key, body, 20, "warmup")
        settle(engine)
        for round_ in range(args.rounds):
            single = baseline(port, key, body, args.sample, f"r{round_}")
            settle(engine)
            spies: list[subprocess.Popen[bytes]] = []
            if args.profile:
                timer = threading.Timer(args.profile_after, profile_later, args=(spies,))
                timer.start()
            job = run_job(
                port,
                key,
                body,
                args.rows,
                f"r{round_}",
                engine,
                mailed,
                (other["apiKey"], other_body),
            )
            if args.profile:
                timer.join()
                spies[0].communicate(timeout=args.profile_seconds + 30)
                top_frames(Path(args.profile), 30)
            scaled = single / args.sample * args.rows
            job["baseline"] = scaled
            job["ratio"] = scaled / job["recorded"]
            results.append(job)
            print(
                f"  round {round_ + 1}: accepted {job['accepted']:.2f} s, "
                f"checked {job['checked']:.2f} s, "
                f"checked+recorded+charged {job['recorded']:.2f} s, signed {job['signed']:.2f} s, "
                f"every PDF rendered and emailed {job['emailed']:.2f} s; "
                f"another account's certificate issued at {job['probe_at']:.2f} s emailed "
                f"{job['probe']:.2f} s later; "
                f"{job['meanwhile_count']:.0f} single issues meanwhile: p50 "
                f"{job['meanwhile_p50'] * 1000:.0f} ms, p99 {job['meanwhile_p99'] * 1000:.0f} ms, "
                f"worst {job['meanwhile_max'] * 1000:.0f} ms; "
                f"single-issue loop {single:.2f} s for {args.sample} -> {scaled:.1f} s for "
                f"{args.rows} ({job['ratio']:.1f}x)"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
        if sink is not None:
            sink.terminate()
            sink.wait(timeout=30)
        engine.dispose()
        shutil.rmtree(data_dir, ignore_errors=True)

    def median(name: str) -> float:
        return statistics.median(r[name] for r in results)

    print(f"\nmedians over {len(results)} rounds, {args.rows:,} rows:")
    print(f"  accepted (the 202):               {median('accepted'):6.2f} s")
    print(f"  every row checked (queued):       {median('checked'):6.2f} s")
    print(f"  checked, recorded and charged:    {median('recorded'):6.2f} s  (target < 5 s)")
    print(f"  every credential signed:          {median('signed'):6.2f} s")
    print(f"  every PDF rendered and emailed:   {median('emailed'):6.2f} s  (target < 30 s)")
    print(f"  another account's one, emailed:   {median('probe'):6.2f} s after its issue")
    p50, p99, worst = (median(f"meanwhile_{k}") * 1000 for k in ("p50", "p99", "max"))
    print(
        f"  its single issues meanwhile:       p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
        f"worst {worst:.0f} ms"
    )
    print(f"  single-issue loop, scaled:        {median('baseline'):6.2f} s")
    print(f"  speed-up vs the loop:             {median('ratio'):6.1f}x   (target >= 5x)")


if __name__ == "__main__":
    main()
