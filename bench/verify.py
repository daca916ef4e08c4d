"""Signing and verification benchmark: each figure against a baseline measured in the same run.

1. Credentials signed per second on one core: `proofs.sign` (eddsa-rdfc-2022, RDFC-1.0 of the
   credential and of the proof options, safe mode, pinned contexts) of a realistic Open Badges
   3.0 credential (issuer profile with url/email/image, achievement with description and
   criteria, two attributes, salted email identity, validUntil, status entry), against bare
   Ed25519 signing of the same credential's JSON bytes. Target: >= 340/s (<= 3 ms each).
2. Offline verifications per second: `verify_credential` with a cached DID document and no
   status resolver (all five checks), and `proofs.verify` alone, against bare Ed25519
   verification of the same bytes.
3. HTTP: left for the lead (see `http_cases`).

    python bench/verify.py [--rounds 7] [--count 200]

One process, one core. Rounds alternate cases so they share any machine load; medians are
printed, and each ratio is the median of per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
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


def http_cases() -> None:
    """HTTP figures, to be added by the lead once routes exist (not built here).

    Measure GET /api/public/verify/{id} and GET /verify/{id} requests/s against the bare
    Starlette endpoint (bench/bare_app.py), with the server harness of bench/issue.py
    (bench.balance.start / wait_ready, wrk, interleaved rounds). Target >= 0.15x.
    """


def main() -> None:
    """Print signing and offline verification rates against bare Ed25519."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=200)
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
    http_cases()

    rate = signing["proofs.sign (eddsa-rdfc-2022, safe mode)"]
    verdict = "meets" if rate >= TARGET_SIGNS_PER_SECOND else "MISSES"
    print(f"\nsigning {rate:.0f}/s {verdict} the target of {TARGET_SIGNS_PER_SECOND}/s (<= 3 ms)")


if __name__ == "__main__":
    main()
