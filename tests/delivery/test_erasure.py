"""Erasure leaves no trace of the recipient: the database (every table), the file store, the
render cache, the outbox and captured messages are searched for the name and the email."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from akowe.config import Settings
from akowe.db.base import Base
from akowe.delivery.worker import DeliveryWorker
from tests.certificates.conftest import ATTRIBUTES, Issuer, make_issuer
from tests.delivery.conftest import certificate, wait_for


def everything_in_the_database(ddb: sessionmaker[Session]) -> str:
    """Every row of every table, as text."""
    chunks: list[str] = []
    with ddb() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(sa.select(table)).all():
                chunks.append(repr(tuple(row)))
                chunks.extend(value.decode("latin-1") for value in row if isinstance(value, bytes))
    return "\n".join(chunks)


def everything_on_disk(root: Path) -> str:
    return "\n".join(
        path.read_bytes().decode("latin-1") for path in root.rglob("*") if path.is_file()
    )


def test_erasure_leaves_no_trace_of_the_recipient(
    dclient: httpx.Client,
    dissuer: Issuer,
    ddb: sessionmaker[Session],
    delivery_settings: Settings,
    start_worker: Callable[..., DeliveryWorker],
    daccount: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    marker = uuid.uuid4().hex[:8]
    name = f"Zainab Qx{marker}"
    address = f"zq{marker}@example.org"
    sandbox = make_issuer(dclient, daccount, test=True)
    ids: dict[str, Issuer] = {}
    for issuer in (dissuer, sandbox):
        body = issuer.body(idempotencyKey=None)
        body.pop("idempotencyKey")
        body["recipientData"] = {
            "name": name,
            "email": address,
            "attributes": {**ATTRIBUTES, "Grade": f"Grade {marker}"},
        }
        response = dclient.post(
            "/api/certificates/issue",
            headers={**issuer.headers, "Idempotency-Key": uuid.uuid4().hex},
            json=body,
        )
        assert response.status_code == 201, response.text
        ids[response.json()["data"]["certificateId"]] = issuer
    # The worker signs, renders and "sends" (.eml files: no SMTP) or captures (test mode).
    start_worker()
    for cid, issuer in ids.items():
        wait_for(
            lambda cid=cid, issuer=issuer: (
                certificate(dclient, issuer, cid)["emailStatus"] in ("sent", "captured")
            )
        )
        pdf = dclient.get(f"/api/certificates/{cid}/pdf", headers=issuer.headers)
        assert pdf.status_code == 200
        assert dclient.get(f"/api/public/certificates/{cid}/image.png").status_code == 200
        corrected = dclient.patch(
            f"/api/certificates/{cid}", headers=issuer.headers, json={"name": f"{name} Jr"}
        )
        assert corrected.status_code == 200, corrected.text
    data_dir = delivery_settings.data_dir
    assert marker in everything_in_the_database(ddb)
    assert address in everything_on_disk(data_dir)  # the .eml of the live certificate

    for cid, issuer in ids.items():
        response = dclient.post(f"/api/certificates/{cid}/erase", headers=issuer.headers)
        assert response.status_code == 200, response.text
        tombstone = response.json()["data"]
        assert tombstone["status"] == "erased" and tombstone["erasedAt"]
        assert tombstone["recipientName"] == "" and tombstone["recipientEmail"] is None
        assert tombstone["attributes"] == {}
        assert tombstone["organizationId"] == issuer.organization_id
        # Final.
        again = dclient.post(f"/api/certificates/{cid}/erase", headers=issuer.headers)
        assert again.status_code == 409 and again.json()["code"] == "certificate_erased"

    database = everything_in_the_database(ddb)
    for trace in (marker, address, name):
        assert trace not in database, trace
        assert trace not in everything_on_disk(data_dir), trace
        assert trace not in caplog.text, trace
    for cid in ids:
        assert not list((data_dir / "renders").glob(f"{cid}*"))
        assert cid in database  # the tombstone (and its ledger entry) remain
