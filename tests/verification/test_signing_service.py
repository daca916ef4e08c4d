"""Signing inside the service: keys encrypted at rest and bound to their row, a wrong or
missing secret refused, concurrent signers agree, a certificate revoked before it was signed
is signed revoked, organizations older than signing get a key when they first sign."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from akowe.certificates.models import Certificate
from akowe.config import Settings
from akowe.db.database import Database
from akowe.processes import Job, run
from akowe.rendering import Attachment
from akowe.signing import service as signing_service
from akowe.signing.exceptions import KeyDecryptionFailed
from akowe.signing.keys import decrypt_private_key, public_key_multibase
from akowe.signing.models import Credential, SigningKey, StatusList
from akowe.signing.status_list import StatusBitstring
from tests.certificates.conftest import Issuer, make_issuer
from tests.conftest import _free_port
from tests.verification.conftest import issue, public_verdict


def _signer(settings: Settings) -> signing_service.Signer:
    return signing_service.Signer.from_settings(settings)


def test_organization_keys_are_encrypted_at_rest_and_bound_to_their_row(
    issuer: Issuer, db: sessionmaker[Session], settings: Settings
) -> None:
    assert settings.secret_key is not None
    secret = settings.secret_key.get_secret_value()
    with db() as session:
        [key] = session.scalars(
            select(SigningKey).where(SigningKey.organization_id == issuer.organization_id)
        ).all()
        others = session.scalars(select(SigningKey).where(SigningKey.id != key.id).limit(1)).all()
    assert key.mode == "live" and key.retired_at is None
    assert key.private_key.startswith("akowe-sk.v1.")
    private = decrypt_private_key(key.private_key, secret, associated_data=f"signing_key:{key.id}")
    assert public_key_multibase(private) == key.public_key
    with pytest.raises(KeyDecryptionFailed):
        decrypt_private_key(key.private_key, "another-secret-key-entirely")
    for other in others:  # a ciphertext moved to another row does not decrypt
        with pytest.raises(KeyDecryptionFailed):
            decrypt_private_key(key.private_key, secret, associated_data=f"signing_key:{other.id}")


def test_a_secret_that_does_not_decrypt_the_keys_is_refused_at_start(
    issuer: Issuer, settings: Settings
) -> None:
    wrong = settings.model_copy(update={"secret_key": SecretStr("not-the-secret-we-used-at-all")})
    database = Database(wrong)
    try:
        signing_service.check_secret(database, signer=_signer(settings))
        with pytest.raises(KeyDecryptionFailed):
            signing_service.check_secret(database, signer=_signer(wrong))
    finally:
        database.dispose()


def test_the_secret_comes_from_settings_or_the_data_directory_file(tmp_path: Path) -> None:
    bare = Settings(data_dir=tmp_path / "data")
    with pytest.raises(signing_service.MissingSecretKey) as refused:
        signing_service.resolve_secret(bare)
    assert "AKOWE_SECRET_KEY" in refused.value.message
    created = signing_service.resolve_secret(bare, create=True)
    path = tmp_path / "data" / "secret-key"
    assert len(created) >= 32 and path.read_text().strip() == created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert signing_service.resolve_secret(bare) == created  # found again next time
    configured = Settings(data_dir=tmp_path / "data", secret_key="configured-secret-value")
    assert signing_service.resolve_secret(configured) == "configured-secret-value"


def test_concurrent_signers_store_one_credential(
    client: httpx.Client, issuer: Issuer, settings: Settings, db: sessionmaker[Session]
) -> None:
    certificate_id = issue(client, issuer)["certificateId"]
    database = Database(settings)
    signer = _signer(settings)
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(
                pool.map(
                    lambda _: signing_service.ensure_credential(
                        database, signer=signer, certificate_id=certificate_id
                    ),
                    range(4),
                )
            )
    finally:
        database.dispose()
    assert all(result is not None for result in results)
    assert len({result.document for result in results if result is not None}) == 1
    with db() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Credential)
            .where(Credential.certificate_id == certificate_id)
        )
        [stored] = session.scalars(
            select(Credential).where(Credential.certificate_id == certificate_id)
        ).all()
        used = session.scalar(select(StatusList.used).where(StatusList.id == stored.status_list_id))
        taken = session.scalar(
            select(func.count())
            .select_from(Credential)
            .where(Credential.status_list_id == stored.status_list_id)
        )
    assert count == 1
    assert used == taken  # the losers' indexes were not counted


def _wait_until_waiting(session: Session, statement: str, work: Future[object]) -> None:
    """Wait until another connection of this database waits for a lock in a statement that
    starts with `statement` (`work` must not be done meanwhile: it must wait). The statistics
    snapshot is cleared on each look: inside a transaction, PostgreSQL answers
    pg_stat_activity from the snapshot of its first read."""
    waited = time.monotonic() + 30
    while True:
        session.execute(text("SELECT pg_stat_clear_snapshot()"))
        if session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database() AND starts_with(query, :statement)"
            ),
            {"statement": statement},
        ):
            return
        assert not work.done(), work.result()
        assert time.monotonic() < waited, f"nothing waited in {statement!r}"
        time.sleep(0.01)


def test_a_batch_signer_waits_for_another_signer_without_deadlocking(
    client: httpx.Client, issuer: Issuer, settings: Settings, db: sessionmaker[Session]
) -> None:
    """Two workers sign batches of one organization at once: each locks its certificates and
    then takes an index from the organization's status list. A batch that had taken the list
    and then waited for a certificate the other holds, while the other waited for the list,
    was a deadlock: PostgreSQL aborted one (seen in the kill test's worker log)."""
    if not settings.resolved_database_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's: SQLite has one writer at a time, no cycle")
    database = Database(settings)
    signer = _signer(settings)
    try:
        warm = issue(client, issuer)["certificateId"]  # the organization's key and list exist
        first = signing_service.ensure_credential(database, signer=signer, certificate_id=warm)
        assert first is not None
        mine, held = (issue(client, issuer)["certificateId"] for _ in range(2))
        with ThreadPoolExecutor(1) as pool, db() as other:  # `other` lets go first
            # The other signer holds `held`'s row, as its own batch does ...
            other.execute(select(Certificate.id).where(Certificate.id == held).with_for_update())
            batch = pool.submit(
                signing_service.sign_batch,
                database,
                signer=signer,
                certificate_ids=[mine, held],
            )
            _wait_until_waiting(other, "SELECT certificate", batch)  # for `held`
            # ... and then takes an index from the list: the batch must not hold the list.
            other.execute(
                update(StatusList)
                .where(StatusList.id == first.status_list_id)
                .values(used=StatusList.used)
            )
            other.commit()
            signed = batch.result(timeout=30)
    finally:
        database.dispose()
    assert set(signed) == {mine, held} and all(signed.values()), signed


def _first_credential(
    client: httpx.Client,
    issuer: Issuer,
    database: Database,
    signer: signing_service.Signer,
    db: sessionmaker[Session],
    free: int,
) -> tuple[Credential, list[int]]:
    """The organization's first credential (its key and list now exist) and the first
    `free` indexes of its list that no credential holds."""
    warm = issue(client, issuer)["certificateId"]
    first = signing_service.ensure_credential(database, signer=signer, certificate_id=warm)
    assert first is not None
    with db() as session:
        held = set(
            session.scalars(
                select(Credential.status_index).where(
                    Credential.status_list_id == first.status_list_id
                )
            )
        )
    return first, [index for index in range(1000) if index not in held][:free]


def test_a_batch_whose_drawn_index_was_taken_meanwhile_keeps_the_rest_of_its_batch(
    client: httpx.Client,
    issuer: Issuer,
    settings: Settings,
    db: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two workers draw their indexes apart and store them later: when another signer
    stores a credential at an index this batch drew, in between, only that certificate is
    left for `ensure_credential` (which draws again); the batch's other credentials are
    stored, and the list counts exactly the indexes its credentials hold. (A collision used
    to throw the whole batch away: about one batch pair in eight with two workers.)"""
    database = Database(settings)
    signer = _signer(settings)
    try:
        first, free = _first_credential(client, issuer, database, signer, db, free=4)
        batch = [issue(client, issuer)["certificateId"] for _ in range(3)]
        rival = issue(client, issuer)["certificateId"]
        draws = iter([*free[:3], free[1], free[3]])  # the batch's three, then the rival's

        class RivalBetween:
            """Stands in for the signing processes (`processes=`): it signs in this process,
            after letting a rival signer store its credential at the batch's second index,
            at the moment the real processes would be signing (between read and write)."""

            def sign(self, jobs: list[Job]) -> list[str]:
                stored = signing_service.ensure_credential(
                    database, signer=signer, certificate_id=rival
                )
                assert stored is not None and stored.status_index == free[1]
                return [run(job, signer) for job in jobs]

        monkeypatch.setattr(signing_service.secrets, "randbelow", lambda _: next(draws))
        signed = signing_service.sign_batch(
            database,
            signer=signer,
            certificate_ids=batch,
            processes=RivalBetween(),  # type: ignore[arg-type]
        )
        assert set(signed) == {batch[0], batch[2]} and all(signed.values()), signed
        # The one left out goes one by one, and gets a free index of its own.
        late = signing_service.ensure_credential(database, signer=signer, certificate_id=batch[1])
    finally:
        database.dispose()
        monkeypatch.undo()  # `secrets.randbelow` is the process's: the server's too
    assert late is not None and late.status_index == free[3]
    with db() as session:
        given = {
            row.certificate_id: row.status_index
            for row in session.execute(
                select(Credential.certificate_id, Credential.status_index).where(
                    Credential.certificate_id.in_([*batch, rival])
                )
            )
        }
        used = session.scalar(select(StatusList.used).where(StatusList.id == first.status_list_id))
        taken = session.scalar(
            select(func.count())
            .select_from(Credential)
            .where(Credential.status_list_id == first.status_list_id)
        )
    assert given == {batch[0]: free[0], rival: free[1], batch[2]: free[2], batch[1]: free[3]}
    assert used == taken == 5
    for certificate_id in (*batch, rival):
        assert public_verdict(client, certificate_id)["status"] == "valid"


def test_a_batch_aborted_to_break_a_lock_cycle_is_stored_on_the_next_try(
    client: httpx.Client, issuer: Issuer, settings: Settings, db: sessionmaker[Session]
) -> None:
    """PostgreSQL breaks a lock cycle by aborting one transaction (a transient the kill
    test's worker log showed once under CI load). Here a real cycle: another transaction
    holds the status list, the batch locks its certificates and waits for the list, then the
    other asks for one of the batch's certificates. The batch waited first, so its deadlock
    check fires first and it is the one aborted: it must try its transaction again (its
    signed drafts are still good) instead of failing."""
    if not settings.resolved_database_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's: SQLite has one writer at a time, no cycle")
    database = Database(settings)
    signer = _signer(settings)
    try:
        warm = issue(client, issuer)["certificateId"]
        first = signing_service.ensure_credential(database, signer=signer, certificate_id=warm)
        assert first is not None
        batch = [issue(client, issuer)["certificateId"] for _ in range(2)]
        with ThreadPoolExecutor(1) as pool, db() as other:  # `other` lets go first
            other.execute(
                update(StatusList)
                .where(StatusList.id == first.status_list_id)
                .values(used=StatusList.used)
            )
            signing = pool.submit(
                signing_service.sign_batch, database, signer=signer, certificate_ids=batch
            )
            _wait_until_waiting(other, "UPDATE status_list", signing)  # for the list
            # The cycle: the batch holds its certificates and waits for the list. (At once:
            # the batch checks for a cycle once, deadlock_timeout after it began to wait.)
            other.execute(
                select(Certificate.id).where(Certificate.id == batch[0]).with_for_update()
            )
            other.commit()
            signed = signing.result(timeout=30)
    finally:
        database.dispose()
    assert set(signed) == set(batch) and all(signed.values()), signed


def test_a_batch_draws_each_certificate_a_free_index_of_its_own(
    client: httpx.Client,
    issuer: Issuer,
    settings: Settings,
    db: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The batch draws its indexes together and checks them in one statement: a drawn index
    that a credential holds, or that was drawn twice, is drawn again."""
    database = Database(settings)
    signer = _signer(settings)
    try:
        first, free = _first_credential(client, issuer, database, signer, db, free=3)
        batch = [issue(client, issuer)["certificateId"] for _ in range(3)]
        # Taken, then a repeat, then free ones: only the free ones are given out.
        draws = iter([first.status_index, free[0], free[0], first.status_index, free[1], free[2]])
        monkeypatch.setattr(signing_service.secrets, "randbelow", lambda _: next(draws))
        signed = signing_service.sign_batch(database, signer=signer, certificate_ids=batch)
    finally:
        database.dispose()
    assert set(signed) == set(batch) and all(signed.values())
    with db() as session:
        given = set(
            session.scalars(
                select(Credential.status_index).where(Credential.certificate_id.in_(batch))
            )
        )
    assert given == set(free)


def test_pdfs_made_together_each_carry_their_own_issuers_did_document(
    client: httpx.Client, issuer: Issuer, settings: Settings, db: sessionmaker[Session]
) -> None:
    """A batch of emails keeps the DID documents it made by signing key (`did_files`): two
    organizations' certificates, interleaved, each carry their issuer's, exactly the file a
    PDF made alone carries."""
    other = make_issuer(client, issuer.account)
    ids = [issue(client, each)["certificateId"] for each in (issuer, other, issuer, other)]
    database = Database(settings)
    try:
        signing_service.sign_batch(database, signer=_signer(settings), certificate_ids=ids)
    finally:
        database.dispose()
    did_files: dict[str, Attachment | None] = {}
    with db() as session:
        together = [
            signing_service.pdf_attachments(session, certificate_id=c, did_files=did_files)
            for c in ids
        ]
        alone = [signing_service.pdf_attachments(session, certificate_id=c) for c in ids]
    assert together == alone
    assert len(did_files) == 2  # one per organization's key
    issuers = []
    for attachments in together:
        assert attachments is not None
        credential, did = attachments
        assert did.name == "did.json"
        issuers.append(json.loads(did.data)["id"])
        assert json.loads(credential.data)["issuer"]["id"] == issuers[-1]
    assert issuers[0] == issuers[2] != issuers[1] == issuers[3]


def test_a_batch_signs_a_certificate_revoked_before_it_was_signed_revoked(
    client: httpx.Client, issuer: Issuer, settings: Settings, db: sessionmaker[Session]
) -> None:
    kept, revoked = (issue(client, issuer)["certificateId"] for _ in range(2))
    response = client.post(
        f"/api/certificates/{revoked}/revoke", headers=issuer.headers, json={"reason": "x"}
    )
    assert response.status_code == 200
    database = Database(settings)
    try:
        signed = signing_service.sign_batch(
            database, signer=_signer(settings), certificate_ids=[kept, revoked, "no-such-id"]
        )
    finally:
        database.dispose()
    assert set(signed) == {kept, revoked, "no-such-id"} and signed["no-such-id"] is None
    with db() as session:
        bits = {}
        for certificate_id in (kept, revoked):
            stored = session.get(Credential, certificate_id)
            assert stored is not None
            status_list = session.get(StatusList, stored.status_list_id)
            assert status_list is not None
            bits[certificate_id] = StatusBitstring(status_list.length, status_list.bits).get(
                stored.status_index
            )
    assert bits == {kept: False, revoked: True}
    assert public_verdict(client, revoked)["status"] == "revoked"
    assert public_verdict(client, kept)["status"] == "valid"


def test_a_certificate_revoked_before_it_was_signed_is_signed_revoked(
    client: httpx.Client, issuer: Issuer, db: sessionmaker[Session]
) -> None:
    certificate_id = issue(client, issuer)["certificateId"]
    with db() as session:
        assert session.get(Credential, certificate_id) is None
    response = client.post(
        f"/api/certificates/{certificate_id}/revoke", headers=issuer.headers, json={"reason": "x"}
    )
    assert response.status_code == 200
    verdict = public_verdict(client, certificate_id)  # signs it now
    assert verdict["status"] == "revoked"
    with db() as session:
        stored = session.get(Credential, certificate_id)
        assert stored is not None
        status_list = session.get(StatusList, stored.status_list_id)
        assert status_list is not None
        assert StatusBitstring(status_list.length, status_list.bits).get(stored.status_index)
        assert status_list.version >= 2


def test_an_organization_older_than_signing_gets_its_key_when_it_first_signs(
    client: httpx.Client, issuer: Issuer, db: sessionmaker[Session]
) -> None:
    with db.begin() as session:
        session.execute(
            delete(SigningKey).where(SigningKey.organization_id == issuer.organization_id)
        )
    assert client.get(f"/orgs/{issuer.organization_id}/did.json").status_code == 404
    certificate_id = issue(client, issuer)["certificateId"]
    assert public_verdict(client, certificate_id)["status"] == "valid"
    document = client.get(f"/orgs/{issuer.organization_id}/did.json").json()
    assert len(document["verificationMethod"]) == 1


def test_a_deleted_organization_keeps_its_certificates_verifiable(
    client: httpx.Client, issuer: Issuer
) -> None:
    certificate_id = issue(client, issuer)["certificateId"]
    assert public_verdict(client, certificate_id)["status"] == "valid"
    deleted = client.delete(
        f"/api/profile/organization/{issuer.organization_id}", headers=issuer.headers
    )
    assert deleted.status_code == 200
    assert client.get(f"/orgs/{issuer.organization_id}/did.json").status_code == 200
    credential = client.get(f"/api/public/certificates/{certificate_id}/credential").json()
    uploaded = client.post("/api/public/verify", json=credential).json()["data"]
    assert uploaded["status"] == "valid"


def _serve(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    environment = {
        **os.environ,
        "AKOWE_DATA_DIR": str(tmp_path / "data"),
        "AKOWE_WORKER_ENABLED": "0",
        "COLUMNS": "200",
        **env,
    }
    for name in ("AKOWE_DATABASE_URL", "AKOWE_SECRET_KEY", "AKOWE_BASE_URL"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.Popen(
        [sys.executable, "-m", "akowe.cli", "serve", "--migrate", *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serve_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    process = _serve(tmp_path, "--port", str(_free_port()))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "AKOWE_SECRET_KEY is not set" in stderr
    assert not (tmp_path / "data" / "secret-key").exists()


def test_serve_warns_loudly_without_a_base_url_on_a_public_interface(tmp_path: Path) -> None:
    port = _free_port()
    secret = "a-secret-key-for-this-test"
    process = _serve(tmp_path, "--host", "0.0.0.0", "--port", str(port), AKOWE_SECRET_KEY=secret)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert "WARNING: AKOWE_BASE_URL is not set" in stderr
    assert secret not in stderr
    short = _serve(tmp_path, "--port", str(_free_port()), AKOWE_SECRET_KEY="short-secret")
    _, stderr = short.communicate(timeout=60)
    assert short.returncode == 1
    assert "at least 16 characters" in stderr and "short-secret" not in stderr
