"""The published eddsa-rdfc-2022 test vectors, reproduced byte for byte."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from akowe.signing import keys, proofs
from akowe.signing.keys import multibase_encode
from akowe.signing.loader import ALL_CONTEXTS, StaticDocumentLoader

# The W3C vector uses https://www.w3.org/ns/credentials/examples/v2, which production refuses.
VECTOR_LOADER = StaticDocumentLoader(ALL_CONTEXTS)


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def w3c(vectors: Path) -> Path:
    return vectors / "w3c-vc-di-eddsa"


@pytest.fixture(scope="module")
def ob3(vectors: Path) -> dict[str, Any]:
    data: dict[str, Any] = _json(vectors / "1edtech-ob3" / "vector.json")
    return data


def test_w3c_key_pair_round_trips_through_multikey_encodings(w3c: Path) -> None:
    pair = _json(w3c / "keyPair.json")
    private = keys.private_key_from_multibase(pair["privateKeyMultibase"])
    assert keys.secret_key_multibase(private) == pair["privateKeyMultibase"]
    assert keys.public_key_multibase(private) == pair["publicKeyMultibase"]


def test_w3c_alumni_vector_canonical_forms_hashes_and_signature_match(w3c: Path) -> None:
    folder = w3c / "eddsa-rdfc-2022"
    unsigned = _json(w3c / "unsigned.json")
    config = _json(folder / "proofConfigDataInt.json")

    data = proofs.hash_data(unsigned, config, loader=VECTOR_LOADER)

    assert data.canonical_document == (folder / "canonDocDataInt.txt").read_text()
    assert data.canonical_proof_config == (folder / "proofCanonDataInt.txt").read_text()
    assert data.document_hash.hex() == (folder / "docHashDataInt.txt").read_text().strip()
    assert data.proof_config_hash.hex() == (folder / "proofHashDataInt.txt").read_text().strip()
    assert data.combined.hex() == (folder / "combinedHashDataInt.txt").read_text().strip()
    private = keys.private_key_from_multibase(_json(w3c / "keyPair.json")["privateKeyMultibase"])
    signature = private.sign(data.combined)
    assert signature.hex() == (folder / "sigHexDataInt.txt").read_text().strip()
    assert multibase_encode(signature) == (folder / "sigBTC58DataInt.txt").read_text().strip()


def test_w3c_alumni_vector_signed_document_is_reproduced_exactly(w3c: Path) -> None:
    folder = w3c / "eddsa-rdfc-2022"
    config = _json(folder / "proofConfigDataInt.json")
    private = keys.private_key_from_multibase(_json(w3c / "keyPair.json")["privateKeyMultibase"])

    signed = proofs.sign(
        _json(w3c / "unsigned.json"),
        private,
        verification_method=config["verificationMethod"],
        created=config["created"],
        loader=VECTOR_LOADER,
    )

    expected = _json(folder / "signedDataInt.json")
    assert signed == expected
    assert list(signed["proof"]) == list(expected["proof"])


def test_w3c_alumni_signed_vector_verifies_and_a_changed_copy_does_not(w3c: Path) -> None:
    signed = _json(w3c / "eddsa-rdfc-2022" / "signedDataInt.json")
    public = keys.public_key_from_multibase(_json(w3c / "keyPair.json")["publicKeyMultibase"])
    assert proofs.verify(signed, public, loader=VECTOR_LOADER)
    signed["credentialSubject"]["alumniOf"] = "The School of Counterexamples"
    assert not proofs.verify(signed, public, loader=VECTOR_LOADER)


def test_1edtech_ob3_vector_canonical_forms_hashes_signature_and_proof_value_match(
    vectors: Path, ob3: dict[str, Any]
) -> None:
    folder = vectors / "1edtech-ob3"
    expected = ob3["expected"]
    private = keys.private_key_from_bytes(bytes.fromhex(ob3["privateKeyHex"])[:32])
    assert keys.public_key_bytes(private).hex() == ob3["publicKeyHex"]
    assert keys.public_key_multibase(private) == ob3["publicKeyMultibase"]

    data = proofs.hash_data(ob3["unsignedCredential"], ob3["proofOptions"])

    assert data.canonical_document == (folder / expected["documentCanonFile"]).read_text()
    assert data.canonical_proof_config == (folder / expected["proofCanonFile"]).read_text()
    assert data.document_hash.hex() == expected["documentHashHex"]
    assert data.proof_config_hash.hex() == expected["proofHashHex"]
    assert (
        hashlib.sha256(data.canonical_document.encode()).hexdigest()
        == (expected["documentHashHex"])
    )
    assert private.sign(data.combined).hex() == expected["signatureHex"]

    options = ob3["proofOptions"]
    signed = proofs.sign(
        ob3["unsignedCredential"],
        private,
        verification_method=options["verificationMethod"],
        created=options["created"],
    )
    assert signed["proof"]["proofValue"] == expected["proofValue"]
    assert proofs.verify(signed, private.public_key())


def test_shipped_ob3_context_is_json_identical_to_the_1edtech_copy(vectors: Path) -> None:
    from akowe.signing.loader import OB_V3P0, read_pinned_context

    assert read_pinned_context(OB_V3P0) == _json(
        vectors / "contexts" / "ob-v3p0-context-3.0.3.json"
    )
