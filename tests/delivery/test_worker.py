"""Workers that die mid-send lose nothing; operators list and retry deliveries from the CLI."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from akowe.config import Settings
from akowe.delivery.worker import DeliveryWorker
from tests.certificates.conftest import ATTRIBUTES, Issuer
from tests.delivery.conftest import SmtpServer, certificate, issue, unique_email, wait_for

StartWorker = Callable[..., DeliveryWorker]


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "AKOWE_DATABASE_URL": settings.resolved_database_url,
        "AKOWE_DATA_DIR": str(settings.data_dir),
        "AKOWE_BASE_URL": settings.public_base_url,
        "AKOWE_MAIL_FROM": settings.mail_from,
        "AKOWE_LOG_LEVEL": "WARNING",
        "AKOWE_SECRET_KEY": settings.secret_key.get_secret_value() if settings.secret_key else "",
        "COLUMNS": "200",
        **extra,
    }


def akowe(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "akowe.cli", *args],
        env=_env(settings, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_worker_killed_mid_send_is_redelivered_after_its_lease(
    dclient: httpx.Client,
    dissuer: Issuer,
    delivery_settings: Settings,
    smtp: SmtpServer,
    start_worker: StartWorker,
) -> None:
    addresses = [unique_email() for _ in range(3)]
    ids = [
        issue(
            dclient,
            dissuer,
            recipientData={"name": f"Recipient {i}", "email": address, "attributes": ATTRIBUTES},
        )["certificateId"]
        for i, address in enumerate(addresses)
    ]
    smtp.sink.stall_next = True
    process = subprocess.Popen(
        [sys.executable, "-m", "akowe.cli", "worker"],
        env=_env(
            delivery_settings,
            AKOWE_SMTP_URL=smtp.url,
            AKOWE_DELIVERY_LEASE_SECONDS="2",
            AKOWE_WORKER_POLL_INTERVAL="0.05",
            # The documented bound: a killed worker repeats at most this many.
            AKOWE_WORKER_CONCURRENCY="1",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert smtp.sink.stalling.wait(30), "the worker never reached DATA"
        assert certificate(dclient, dissuer, ids[0])["emailStatus"] == "sending"
    finally:
        process.kill()  # SIGKILL: no clean-up of any kind
        process.wait(10)
    smtp.sink.release.set()

    start_worker(smtp_url=smtp.url, delivery_lease_seconds=2)
    for cid in ids:
        wait_for(lambda cid=cid: certificate(dclient, dissuer, cid)["emailStatus"] == "sent")
    copies = Counter()
    for address in addresses:
        received = smtp.sink.to(address)
        assert received, f"lost: {address}"
        ids_seen = {m["Message-ID"] for m in received}
        assert len(ids_seen) == 1  # every copy of one message carries the same Message-ID
        copies[address] = len(received)
    assert all(count <= 2 for count in copies.values()), copies
    assert sum(count - 1 for count in copies.values()) <= 1, copies


def _children(pid: int) -> set[int]:
    # Every thread's children: the worker processes are started by the worker's thread.
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            found.update(map(int, (task / "children").read_text().split()))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_killed_worker_leaves_no_worker_processes_behind(
    dclient: httpx.Client, dissuer: Issuer, delivery_settings: Settings
) -> None:
    data = {"name": "Orphan", "email": unique_email(), "attributes": ATTRIBUTES}
    issue(dclient, dissuer, recipientData=data)
    process = subprocess.Popen(
        [sys.executable, "-m", "akowe.cli", "worker"],
        env=_env(delivery_settings, AKOWE_WORKER_PROCESSES="2", AKOWE_WORKER_POLL_INTERVAL="0.05"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # It signs the credential in its worker processes: they are running now.
        children = wait_for(lambda: len(kids := _children(process.pid)) >= 2 and kids)
    finally:
        process.kill()  # SIGKILL: no clean-up of any kind
        process.wait(10)
    wait_for(lambda: not any(_alive(child) for child in children))


def test_a_batch_that_outlives_its_lease_sends_nothing_twice_but_the_message_in_hand(
    dclient: httpx.Client,
    dissuer: Issuer,
    smtp: SmtpServer,
    start_worker: StartWorker,
) -> None:
    addresses = [unique_email() for _ in range(3)]
    for i, address in enumerate(addresses):
        data = {"name": f"Recipient {i}", "email": address, "attributes": ATTRIBUTES}
        issue(dclient, dissuer, recipientData=data)
    settings = {
        "smtp_url": smtp.url,
        "delivery_lease_seconds": 1,
        "worker_batch_size": 100,
        "worker_concurrency": 1,  # one message in hand at a time
    }
    slow = start_worker(run=False, **settings)
    smtp.sink.stall_next = True  # the first send hangs past the batch's lease
    first = threading.Thread(target=slow.run_once)
    first.start()
    try:
        assert smtp.sink.stalling.wait(30), "the worker never reached DATA"
        time.sleep(1.2)
        # The lease ran out: another worker takes the whole batch and sends it.
        start_worker(run=False, **settings).drain()
    finally:
        smtp.sink.release.set()
        first.join(30)
    for address in addresses:
        assert smtp.sink.to(address), f"lost: {address}"
    # The slow worker finished the send in hand (a second copy: at least once), but did
    # not send the rest of its lapsed batch again.
    copies = Counter(m["Message-ID"] for _, m in smtp.sink.messages)
    assert sum(count - 1 for count in copies.values()) <= 1, copies.most_common(3)


def test_cli_lists_and_retries_failed_deliveries(
    dclient: httpx.Client,
    dissuer: Issuer,
    delivery_settings: Settings,
    smtp: SmtpServer,
    start_worker: StartWorker,
) -> None:
    address = unique_email()
    smtp.sink.refuse_always = "554 5.7.1 Rejected"
    cid = issue(
        dclient, dissuer, recipientData={"name": "Ife", "email": address, "attributes": ATTRIBUTES}
    )["certificateId"]
    worker = start_worker(smtp_url=smtp.url)
    wait_for(lambda: certificate(dclient, dissuer, cid)["emailStatus"] == "failed")
    worker.stop()

    listed = akowe(delivery_settings, "deliveries", "list", "--status", "failed", "--json")
    assert listed.returncode == 0, listed.stderr
    rows: list[dict[str, Any]] = json.loads(listed.stdout)
    [row] = [r for r in rows if r["certificateId"] == cid and r["kind"] == "email"]
    assert row["status"] == "failed"
    assert row["target"] == address
    assert "554" in row["lastError"]
    table = akowe(delivery_settings, "deliveries", "list")
    assert table.returncode == 0, table.stderr
    assert row["id"][:8] in table.stdout  # the table shows short ids; `retry` takes them

    smtp.sink.refuse_always = None
    retried = akowe(delivery_settings, "deliveries", "retry", row["id"][:8])
    assert retried.returncode == 0, retried.stderr
    assert certificate(dclient, dissuer, cid)["emailStatus"] == "queued"
    again = akowe(delivery_settings, "deliveries", "retry", row["id"])
    assert again.returncode == 1
    assert "Only failed or retrying" in again.stderr

    sent = akowe(delivery_settings, "worker", "--once", AKOWE_SMTP_URL=smtp.url)
    assert sent.returncode == 0, sent.stderr
    assert certificate(dclient, dissuer, cid)["emailStatus"] == "sent"
    assert len(smtp.sink.to(address)) == 1

    none = akowe(delivery_settings, "deliveries", "retry", "--all-failed")
    assert none.returncode == 0, none.stderr
    bad = akowe(delivery_settings, "deliveries", "retry")
    assert bad.returncode != 0
