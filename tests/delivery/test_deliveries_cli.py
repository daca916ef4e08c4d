"""`akowe deliveries list` is readable at 80 columns, shows superseded emails in their own
state (never among the failed), and `retry` takes the short ids the table shows."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from akowe.config import Settings
from akowe.delivery.models import OutboxMessage
from tests.certificates.conftest import ATTRIBUTES, Issuer
from tests.delivery.conftest import issue
from tests.delivery.test_worker import akowe

LONG_ADDRESS = "adewale.ogunleye.the.third.of.his.name@faculty.very-long-domain.example.com"
LONG_ERROR = (
    "554 5.7.1 <adewale.ogunleye.the.third.of.his.name@faculty.very-long-domain.example.com>: "
    "Recipient address rejected: this mailbox does not accept mail from unknown senders"
)


def _emails(client: httpx.Client, issuer: Issuer, certificate_id: str) -> list[dict]:
    response = client.get(f"/api/certificates/{certificate_id}/messages", headers=issuer.headers)
    return response.json()["data"]  # type: ignore[no-any-return]


def test_the_table_fits_80_columns_and_superseded_emails_have_their_own_state(
    dclient: httpx.Client,
    dissuer: Issuer,
    delivery_settings: Settings,
    ddb: sessionmaker[Session],
) -> None:
    recipient = {"name": "Adewale", "email": LONG_ADDRESS, "attributes": ATTRIBUTES}
    cid = issue(dclient, dissuer, recipientData=recipient)["certificateId"]
    # A resend before the first email went out supersedes it (no worker runs here).
    resent = dclient.post(f"/api/certificates/{cid}/resend", headers=dissuer.headers)
    assert resent.status_code == 202, resent.text
    superseded, latest = (m["id"] for m in _emails(dclient, dissuer, cid))
    # The worker's verdict on the resend, as it would record it after a 5xx answer.
    with ddb.begin() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == latest)
            .values(status="failed", attempts=8, last_error=LONG_ERROR)
        )

    table = akowe(delivery_settings, "deliveries", "list", "--kind", "email", COLUMNS="80")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, table.stdout
    header = next(line for line in lines if line.lstrip().startswith("id"))
    for column in ("kind", "status", "tries", "when", "to / event, last error"):
        assert column in header
    [failed_row] = [line for line in lines if line.startswith(latest[:8])]
    assert "failed" in failed_row and LONG_ADDRESS[:20] in failed_row and "…" in failed_row
    error_line = lines[lines.index(failed_row) + 1]
    assert error_line.strip().startswith("554 5.7.1")  # the error, under its recipient
    [superseded_row] = [line for line in lines if line.startswith(superseded[:8])]
    assert "superseded" in superseded_row

    failed = akowe(delivery_settings, "deliveries", "list", "--status", "failed", "--json")
    ids = {row["id"] for row in json.loads(failed.stdout)}
    assert latest in ids and superseded not in ids
    only = akowe(delivery_settings, "deliveries", "list", "--status", "superseded", "--json")
    assert only.returncode == 0, only.stderr
    rows = json.loads(only.stdout)
    assert superseded in {row["id"] for row in rows}
    assert {row["status"] for row in rows} == {"superseded"}

    # `retry` takes the short id the table shows; a superseded email is not retried.
    again = akowe(delivery_settings, "deliveries", "retry", superseded[:8])
    assert again.returncode == 1 and "Only failed or retrying" in again.stderr
    retried = akowe(delivery_settings, "deliveries", "retry", latest[:8])
    assert retried.returncode == 0, retried.stderr
    unknown = akowe(delivery_settings, "deliveries", "retry", "zzzz")
    assert unknown.returncode == 1 and "could not be found" in unknown.stderr
