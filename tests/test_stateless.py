"""Stateless processes: two API processes and a worker, each with its own EMPTY data
directory, share nothing but the database and an S3-compatible object store (a real one on
loopback, tests/s3server.py). Any process answers any request: a template made on A issues
on B, A serves B's certificate and A's template image, B's page verifies it, and the worker
mails it. Runs on SQLite (the processes share the file) and on PostgreSQL."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
from pydantic import SecretStr
from pypdf import PdfReader

from tests.certificates.conftest import ATTRIBUTES, FIELDS, png_data_uri
from tests.conftest import OwnDatabase
from tests.delivery.conftest import SmtpServer
from tests.processes import server_process, worker_process
from tests.s3server import S3Server

PUBLIC = "https://certs.example"


def test_any_process_answers_any_request_with_empty_data_directories(
    own_database: OwnDatabase, s3: S3Server, tmp_path: Path
) -> None:
    # A database of its own: the worker finds only this test's email queued (in the session's
    # database it would send every earlier test's unsent emails first).
    settings, make_account = own_database.settings, own_database.make_account
    bucket = s3.new_bucket()
    # One public address for all, as behind a proxy: links, DIDs and status lists name it
    # whichever process made them.
    env = {**s3.env(bucket), "AKOWE_BASE_URL": PUBLIC}
    account = make_account(credits=5)
    headers = account.headers()
    dirs = {name: tmp_path / name for name in ("a", "b", "w")}
    smtp = SmtpServer().start()
    smtp_url = SecretStr(smtp.url).get_secret_value()
    try:
        with (
            server_process(settings, dirs["a"], tmp_path / "a.log", **env) as a,
            server_process(settings, dirs["b"], tmp_path / "b.log", **env) as b,
            worker_process(
                settings,
                dirs["w"],
                tmp_path / "w.log",
                AKOWE_SMTP_URL=smtp_url,
                AKOWE_WORKER_POLL_INTERVAL="0.1",
                AKOWE_WORKER_PROCESSES="0",
                **env,
            ),
            httpx.Client(base_url=a.url, headers=headers, timeout=60) as on_a,
            httpx.Client(base_url=b.url, headers=headers, timeout=60) as on_b,
        ):
            organization = on_b.post("/api/profile/organization", json={"name": "Two Hosts U"})
            assert organization.status_code == 201, organization.text
            template = on_a.post(
                "/api/templates",
                json={
                    "name": "Stateless",
                    "imageUrl": png_data_uri(),
                    "dimensions": {"width": 800, "height": 566},
                    "fields": FIELDS,
                },
            )
            assert template.status_code == 201, template.text
            image_url = template.json()["data"]["imageUrl"]
            issued = on_b.post(
                "/api/certificates/issue",
                json={
                    "recipientData": {
                        "name": "Ada Lovelace",
                        "email": "ada@example.org",
                        "attributes": ATTRIBUTES,
                    },
                    "organizationId": organization.json()["data"]["id"],
                    "mailData": {
                        "templateId": template.json()["data"]["id"],
                        "subject": "Your certificate",
                        "body": "Congratulations",
                    },
                },
            )
            assert issued.status_code == 201, issued.text
            certificate_id = issued.json()["data"]["certificateId"]

            # A serves the template image B never stored, from the bucket.
            assert image_url.startswith(f"{PUBLIC}/files/")
            image = httpx.get(image_url.replace(PUBLIC, a.url))
            assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
            assert httpx.get(image_url.replace(PUBLIC, b.url)).content == image.content
            from_a = on_a.get(f"/api/certificates/{certificate_id}/pdf")
            assert from_a.status_code == 200, from_a.text
            assert from_a.content.startswith(b"%PDF")
            from_b = on_b.get(f"/api/certificates/{certificate_id}/pdf")
            assert from_b.status_code == 200
            # Rendered twice, once per host (each has its own render cache): the same
            # certificate, the same signed credential (only the files' dates differ).
            assert _contents(from_b.content) == _contents(from_a.content)
            assert "Ada Lovelace" in _contents(from_a.content)[0]
            page = httpx.get(f"{b.url}/verify/{certificate_id}")
            assert page.status_code == 200 and "VALID" in page.text
            verdict = httpx.get(f"{b.url}/api/public/verify/{certificate_id}").json()["data"]
            assert verdict["valid"] is True, verdict

            deadline = time.monotonic() + 60
            while not smtp.sink.to("ada@example.org") and time.monotonic() < deadline:
                time.sleep(0.1)
            (mail,) = smtp.sink.to("ada@example.org")
            attachments = [
                p for p in mail.iter_attachments() if p.get_content_type() == "application/pdf"
            ]
            assert [_contents(p.get_content()) for p in attachments] == [_contents(from_a.content)]
    finally:
        smtp.stop()
    # Nothing was written where another host could not see it.
    for directory in dirs.values():
        assert not (directory / "files").exists(), list(directory.rglob("*"))


def _contents(pdf: bytes) -> tuple[str, dict[str, list[bytes]]]:
    """A PDF's text and embedded files (the signed credential and the issuer's DID)."""
    reader = PdfReader(io.BytesIO(pdf))
    return "".join(page.extract_text() for page in reader.pages), dict(reader.attachments)
