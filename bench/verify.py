"""Signing and verification benchmark: each figure against a baseline measured in the same run.

1. Credentials signed per second on one core: `proofs.sign` (eddsa-rdfc-2022, RDFC-1.0 of the
   credential and of the proof options, safe mode, pinned contexts) of a realistic Open Badges
   3.0 credential (issuer profile with url/email/image, achievement with description and
   criteria, two attributes, salted email identity, validUntil, status entry), against bare
   Ed25519 signing of the same credential's JSON bytes. Target: >= 340/s (<= 3 ms each).
2. Offline verifications per second: `verify_credential` with a cached DID document and no
   status resolver (all five checks), and `proofs.verify` alone, against bare Ed25519
   verification of the same bytes.
3. HTTP: `GET /api/public/verify/{id}` and `GET /verify/{id}` requests per second against a
   bare Starlette endpoint answering the same bytes (bench/bare_app.py), with one uvicorn
   worker each and wrk (1 thread, C connections) from a separate process, rounds interleaved,
   medians and the median of per-round ratios. Target >= 0.15x. Verdicts are cached per
   certificate until its verification state changes (revocation, expiry, a new signature),
   so these are cache hits after the first request; the cost of that first request (a full
   verification: credential and status list signatures, DID document, page render) is
   printed too, as the median over fresh certificates.

    python bench/verify.py [--rounds 7] [--count 200] [--http-rounds 3] [--duration 5]
                           [--connections 16] [--database-url URL] [--skip-http]

Signing and offline verification run in this process on one core. Rounds alternate cases so
they share any machine load; medians are printed, and each ratio is the median of per-round
ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from akowe.signing import (  # noqa: E402
    AchievementInfo,
    IssuerProfile,
    StatusEntry,
    build_credential,
    did_document,
    generate_private_key,
    offline_did_resolver,
    organization_did,
    public_key_multibase,
    sign,
    verification_method_id,
    verify_credential,
    verify_proof,
)

BASE_URL = "https://certificates.example.edu"
NAMES = ("Adéwálé Ògúnlẹ̀", "Chinonso Okafor", "Zoë Brontë-Smith", "Łukasz Żółkiewski")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TARGET_SIGNS_PER_SECOND = 340
HTTP_TARGET = 0.15

KEY = generate_private_key()
DID = organization_did(BASE_URL, "ae08808f-85e5-4444-92ca-304a07531f3b")
METHOD = verification_method_id(DID, KEY)
RESOLVER = offline_did_resolver({DID: did_document(DID, [public_key_multibase(KEY)])})


def credential(number: int) -> dict[str, Any]:
    """The `number`th recipient's unsigned credential (name, id and index change)."""
    return build_credential(
        credential_id=f"{BASE_URL}/api/public/certificates/{number:08d}/credential",
        issuer=IssuerProfile(
            did=DID,
            name="University of Lagos, Faculty of Engineering",
            url="https://unilag.example.edu",
            email="registrar@unilag.example.edu",
            image=f"{BASE_URL}/files/org-logo.png",
        ),
        achievement=AchievementInfo(
            id=f"{BASE_URL}/templates/777e143a-f685-48da-bc8d-39105b8336c0",
            name="Machine Learning Certificate",
            description="Completed the twelve-week Machine Learning programme.",
            criteria_narrative="Passed every assignment and the final project with distinction.",
        ),
        recipient_name=NAMES[number % len(NAMES)],
        recipient_email=f"student{number}@example.com",
        salt=f"{number:032x}",
        valid_from=NOW,
        valid_until=NOW + timedelta(days=730),
        attributes={"Course Name": "Machine Learning", "Grade": "Excellent"},
        status=StatusEntry(f"{BASE_URL}/status/1", (number * 7919) % 131_072),
    )


def timed(operation: Callable[[int], object], count: int) -> float:
    """Operations per second over `count` operations."""
    start = time.perf_counter()
    for i in range(count):
        operation(i)
    return count / (time.perf_counter() - start)


def interleaved(
    cases: dict[str, Callable[[int], object]], rounds: int, count: int
) -> dict[str, list[float]]:
    """Rates per round for each case; rounds alternate cases so they share any machine load."""
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, operation in cases.items():
            rates[name].append(timed(operation, count))
    return rates


def report(title: str, base_name: str, rates: dict[str, list[float]]) -> dict[str, float]:
    """Print medians and ratios against the named baseline; return the medians."""
    base = rates.pop(base_name)
    print(f"\n{title}")
    print(f"  {'baseline: ' + base_name + ':':58} {statistics.median(base):8.0f} /s")
    medians = {}
    for name, values in rates.items():
        ratio = statistics.median(v / b for v, b in zip(values, base, strict=True))
        median = statistics.median(values)
        medians[name] = median
        print(f"  {name + ':':58} {median:8.0f} /s  {1000 / median:5.2f} ms  {ratio:.4f}x baseline")
    return medians


def http_cases(args: argparse.Namespace) -> dict[str, float]:
    """Requests/s of the public verification endpoints against bare Starlette (same bytes)."""
    import os
    import secrets
    import shutil
    import subprocess
    import tempfile
    import urllib.request

    from bench.api import record, start
    from bench.balance import BIN, free_port, wait_ready
    from bench.issue import WRK_LUA, api, setup
    from bench.issue import wrk as wrk_counted
    from bench.render import background
    from bench.scratch import scratch_database

    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    data_dir = tempfile.mkdtemp(prefix="akowe-bench-verify-")
    env = {**os.environ, "AKOWE_DATA_DIR": data_dir, "AKOWE_LOG_LEVEL": "WARNING"}
    env["AKOWE_WORKER_ENABLED"] = "0"
    env.setdefault("AKOWE_SECRET_KEY", secrets.token_urlsafe(32))
    scratch = ExitStack()
    if args.database_url:
        env["AKOWE_DATABASE_URL"] = scratch.enter_context(
            scratch_database(args.database_url, "verify")
        )
    else:
        env.pop("AKOWE_DATABASE_URL", None)

    def cli(*argv: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(BIN / "akowe"), *argv], env=env, check=True, capture_output=True, text=True
        )
        return json.loads(done.stdout) if "--json" in argv else {}

    servers: list[subprocess.Popen[bytes]] = []
    try:
        cli("db", "upgrade")
        account = cli("accounts", "create", "--email", "bench@x.io", "--credits", "100", "--json")
        key = account["apiKey"]
        port = free_port()
        servers.append(start("akowe.main:create_app", port, env, factory=True))
        wait_ready(f"http://127.0.0.1:{port}/healthz", {})
        body = setup(port, key, background("JPEG"))
        body["expiresAt"] = "2099-01-01T00:00:00Z"

        def fetch(path: str) -> float:
            started = time.perf_counter()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as response:
                response.read()
            return (time.perf_counter() - started) * 1000

        # The first request after a state change verifies for real (then it is cached).
        first: dict[str, list[float]] = {"api": [], "page": []}
        for _ in range(args.fresh):
            for kind, prefix in (("api", "/api/public/verify/"), ("page", "/verify/")):
                status, issued, _ = api(port, key, "POST", "/api/certificates/issue", body)
                assert status == 201, issued
                certificate_id = issued["data"]["certificateId"]
                fetch(f"/api/public/certificates/{certificate_id}/credential")  # sign it first
                first[kind].append(fetch(prefix + certificate_id))
        paths = {
            "GET /api/public/verify/{id}": f"/api/public/verify/{certificate_id}",
            "GET /verify/{id}": f"/verify/{certificate_id}",
        }
        replay = Path(data_dir) / "replay.json"
        replay.write_text(json.dumps(record(port, key, paths)))
        env["BENCH_REPLAY"] = str(replay)
        bare_port = free_port()
        servers.append(start("bench.bare_app:replay_app", bare_port, env, factory=False))
        wait_ready(f"http://127.0.0.1:{bare_port}{paths['GET /verify/{id}']}", {})
        script = Path(data_dir) / "get.lua"
        script.write_text(WRK_LUA)

        def load(base_port: int, path: str, duration: int) -> float:
            url = f"http://127.0.0.1:{base_port}{path}"
            return float(wrk_counted(url, key, duration, args.connections, script)["rate"])

        for path in paths.values():  # warm-up
            load(port, path, 1)
            load(bare_port, path, 1)
        ours: dict[str, list[float]] = {name: [] for name in paths}
        bare: dict[str, list[float]] = {name: [] for name in paths}
        for round_number in range(args.http_rounds):
            for name, path in paths.items():
                ours[name].append(load(port, path, args.duration))
                bare[name].append(load(bare_port, path, args.duration))
                print(
                    f"  round {round_number + 1} {name:30} akowe {ours[name][-1]:8.0f}/s  "
                    f"bare {bare[name][-1]:8.0f}/s  ratio {ours[name][-1] / bare[name][-1]:.3f}",
                    flush=True,
                )
        db = "PostgreSQL" if args.database_url else "SQLite"
        print(
            f"\nHTTP ({db}, 1 uvicorn worker each, wrk -t1 -c{args.connections}, "
            f"{args.http_rounds}x{args.duration}s, medians)"
        )
        ratios = {}
        for name in paths:
            ratio = statistics.median(a / b for a, b in zip(ours[name], bare[name], strict=True))
            ratios[name] = ratio
            verdict = "OK  " if ratio >= HTTP_TARGET else "MISS"
            print(
                f"  {verdict} {name:30} akowe {statistics.median(ours[name]):8.0f}/s  "
                f"bare Starlette {statistics.median(bare[name]):8.0f}/s  ratio {ratio:.3f}  "
                f"(goal >= {HTTP_TARGET}x)"
            )
        print(
            f"  first request after a state change (full verification, then cached), median of "
            f"{args.fresh}: API {statistics.median(first['api']):.1f} ms, "
            f"page {statistics.median(first['page']):.1f} ms"
        )
        return ratios
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=15)
        shutil.rmtree(data_dir, ignore_errors=True)
        scratch.close()


def main() -> None:
    """Print signing and offline verification rates against bare Ed25519."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--http-rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--fresh", type=int, default=20, help="certificates for first requests")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()

    unsigned = [credential(n) for n in range(args.count)]
    payloads = [json.dumps(c, ensure_ascii=False).encode() for c in unsigned]
    signed = [sign(c, KEY, verification_method=METHOD, created=NOW) for c in unsigned]
    signatures = [KEY.sign(p) for p in payloads]
    public = KEY.public_key()
    assert all(verify_credential(s, resolve_did=RESOLVER, now=NOW).valid for s in signed[:5])
    size = len(payloads[0])
    print(f"credential: {size} bytes of JSON; {args.rounds} rounds x {args.count} operations")

    signing = report(
        "Signing (one core)",
        "bare Ed25519 sign of the credential's JSON bytes",
        interleaved(
            {
                "bare Ed25519 sign of the credential's JSON bytes": lambda i: KEY.sign(payloads[i]),
                "proofs.sign (eddsa-rdfc-2022, safe mode)": lambda i: sign(
                    unsigned[i], KEY, verification_method=METHOD, created=NOW
                ),
            },
            args.rounds,
            args.count,
        ),
    )
    report(
        "Offline verification (one core)",
        "bare Ed25519 verify of the same bytes",
        interleaved(
            {
                "bare Ed25519 verify of the same bytes": lambda i: public.verify(
                    signatures[i], payloads[i]
                ),
                "proofs.verify (signature only)": lambda i: verify_proof(signed[i], public),
                "verify_credential (5 checks, cached DID, no status)": lambda i: verify_credential(
                    signed[i], resolve_did=RESOLVER, now=NOW
                ),
            },
            args.rounds,
            args.count,
        ),
    )
    ratios = {} if args.skip_http else http_cases(args)

    rate = signing["proofs.sign (eddsa-rdfc-2022, safe mode)"]
    verdict = "meets" if rate >= TARGET_SIGNS_PER_SECOND else "MISSES"
    print(f"\nsigning {rate:.0f}/s {verdict} the target of {TARGET_SIGNS_PER_SECOND}/s (<= 3 ms)")
    for name, ratio in ratios.items():
        verdict = "meets" if ratio >= HTTP_TARGET else "MISSES"
        print(f"{name} at {ratio:.3f}x bare Starlette {verdict} the target of {HTTP_TARGET}x")


if __name__ == "__main__":
    main()
