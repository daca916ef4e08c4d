"""Schemathesis against the running server: every operation of /openapi.json, every check,
a bounded number of examples each, with a real key. Zero failures: the document admits
exactly what the server accepts, and the server answers only what the document says.

The run uses realistic parameter values (a real organization, template, certificate and
cursor, made here first) so operations reach real resources, not only 404s. Two generation
settings say what a JSON Schema cannot: no string holds NUL (the edge refuses NUL in every
field, tests/api/test_edge.py) and strings are valid UTF-8. Positive-data acceptance is
not checked where acceptance depends on content no schema can describe: an image's bytes
(templates, organization logos) and a webhook URL's public reachability.

Runs on the suite's database (SQLite, or PostgreSQL with AKOWE_TEST_DATABASE_URL), against
whatever routes exist: other routes added later are fuzzed the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from akowe.config import Settings
from tests.certificates.conftest import make_issuer
from tests.processes import server_process

EXAMPLES = int(os.environ.get("AKOWE_SCHEMATHESIS_EXAMPLES", "10"))
SEED = os.environ.get("AKOWE_SCHEMATHESIS_SEED", "1")
CONTENT_DEPENDENT = [
    "POST /api/templates",
    "PATCH /api/templates/{templateId}",
    "POST /api/profile/organization",
    "PATCH /api/profile/organization/{organizationId}",
    "POST /api/webhooks",
    # Whether the bytes are a font whose licence allows embedding: no schema can say.
    "POST /api/fonts",
    # Whether a file is a readable table, and whether its (or the JSON's) rows name a real
    # organization and template and hold values the design can draw.
    "POST /api/certificates/bulk",
    # Whether a document carries a credential that verifies (or one this caller may sign).
    "POST /api/public/verify",
    "POST /vc-api/credentials/issue",
    "POST /vc-api/credentials/verify",
]
# A correction's values are checked against the certificate's design (the attributes it
# prints, the characters its fonts draw: 400 or 422), and the certificate may have been
# revoked or erased by an earlier operation of the run (409).
DESIGN_DEPENDENT = ["PATCH /api/certificates/{certificateId}"]


def _config(ids: dict[str, str]) -> str:
    lines = [
        "[generation]",
        "allow-x00 = false",
        'codec = "utf-8"',
        f"max-examples = {EXAMPLES}",
        "",
        "[parameters]",
        *(f'{name} = "{value}"' for name, value in ids.items()),
        "",
    ]
    # A job's rows are paged by row number, not by the (createdAt, id) cursor of the lists.
    lines += [
        "[[operations]]",
        'include-name = "GET /api/jobs/{jobId}/rows"',
        'parameters = { cursor = "1" }',
        "",
    ]
    for name in CONTENT_DEPENDENT:
        lines += [
            "[[operations]]",
            f'include-name = "{name}"',
            # 400 joins the statuses a schema-valid request may get.
            'checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", '
            '"403", "404", "409", "429"]',
            "",
        ]
    for name in DESIGN_DEPENDENT:
        lines += [
            "[[operations]]",
            f'include-name = "{name}"',
            'checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", '
            '"403", "404", "409", "422", "429"]',
            "",
        ]
    return "\n".join(lines)


def test_schemathesis_finds_nothing(settings: Settings, tmp_path: Path, make_account) -> None:
    account = make_account(credits=100_000, test_credits=1_000)
    env = {"AKOWE_RATE_LIMIT": "1000000/second"}
    with server_process(settings, tmp_path / "data", tmp_path / "server.log", **env) as server:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            issuer = make_issuer(http, account)
            certificates = []
            for _ in range(2):
                issued = http.post(
                    "/api/certificates/issue", json=issuer.body(), headers=issuer.headers
                )
                assert issued.status_code == 201, issued.text
                certificates.append(issued.json()["data"]["certificateId"])
            page = http.get("/api/certificates?limit=1", headers=issuer.headers)
            cursor = page.headers["x-next-cursor"]
            submitted = http.post(
                "/api/certificates/bulk",
                json={
                    "organizationId": issuer.organization_id,
                    "templateId": issuer.template_id,
                    "recipients": [issuer.body()["recipientData"]] * 2,
                },
                headers=issuer.headers,
            )
            assert submitted.status_code == 202, submitted.text
        ids = {
            "organizationId": issuer.organization_id,
            "templateId": issuer.template_id,
            "certificateId": certificates[0],
            "cursor": cursor,
            "jobId": submitted.json()["data"]["jobId"],
        }
        config = tmp_path / "schemathesis.toml"
        config.write_text(_config(ids))
        started = time.monotonic()
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "--config-file",
                str(config),
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "all",
                "--header",
                f"x-api-key: {account.api_key}",
                "--seed",
                SEED,
                # One worker: hypothesis's lambda descriptions parse source with `ast`, which
                # is not thread-safe on CPython 3.11 (a crash of the tool, not of the API).
                "--workers",
                "1",
                "--no-shrink",
                "--request-timeout",
                "30",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
        elapsed = time.monotonic() - started
        log = (tmp_path / "server.log").read_text()
    summary = run.stdout[run.stdout.rfind("SUMMARY") :]
    print(f"\nschemathesis ({EXAMPLES} examples per operation, {elapsed:.0f} s):\n{summary}")
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
    assert "Traceback" not in log, log[-5_000:]
