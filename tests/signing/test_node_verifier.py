"""Credentials signed here, verified by an independent implementation from the npm registry.

`tests/signing/node/` pins Digital Bazaar's `@digitalbazaar/vc`, `data-integrity`,
`eddsa-rdfc-2022-cryptosuite` and `vc-bitstring-status-list` (jsonld.js and rdf-canonize, not
pyld). `npm ci` there installs them (`.ci/run` does). Without them this test is skipped with a
loud reason locally, and fails in CI (env CI set), so CI can never pass without running it.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

from akowe.signing import generate_private_key, sign
from akowe.signing.loader import DEFAULT_CONTEXTS, read_pinned_context
from tests.npm import require_node
from tests.signing.conftest import NOW, Issuer

NODE_DIR = Path(__file__).parent / "node"


def _run(tmp_path: Path, documents: dict[str, Any], cases: list[dict[str, Any]]) -> Any:
    node = require_node(NODE_DIR / "node_modules", "independent (npm) verifier")
    source = tmp_path / "input.json"
    source.write_text(json.dumps({"documents": documents, "cases": cases}), encoding="utf-8")
    completed = subprocess.run(
        [node, str(NODE_DIR / "verify.js"), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_npm_verifier_agrees_on_valid_tampered_revoked_and_status_list(
    tmp_path: Path, issuer: Issuer
) -> None:
    valid = issuer.signed(index=5)
    revoked = issuer.signed(index=1234)
    issuer.status.set(1234)
    status_list = issuer.status_list_credential()
    other = Issuer(did="did:web:127.0.0.1%3A8000:orgs:other", keys=[generate_private_key()])

    tampered_subject = copy.deepcopy(valid)
    tampered_subject["credentialSubject"]["name"] = "Mallory"
    tampered_proof = copy.deepcopy(valid)
    value = tampered_proof["proof"]["proofValue"]
    tampered_proof["proof"]["proofValue"] = value[:-4] + (
        "1111" if value[-4:] != "1111" else "2222"
    )
    changed_issuer = copy.deepcopy(valid)
    changed_issuer["issuer"]["id"] = other.did
    # Properly signed by `other`, but naming `issuer` as its issuer.
    wrong_key = sign(
        issuer.credential(), other.key, verification_method=other.method(), created=NOW
    )

    # Signed as certificates are (`built`): after the first of a shape, from the learned
    # dataset (akowe.signing.canon.canonicalize_built), never expanded by pyld again.
    built = [
        sign(
            issuer.credential(name=name, index=index, attributes={"Course Name": course}),
            issuer.key,
            verification_method=issuer.method(),
            created=NOW,
            built=True,
        )
        for index, (name, course) in enumerate(
            [
                ("Adéwálé Ògúnlẹ̀", "Machine Learning"),
                ("李小龙", "Dr: Foo"),
                ("أحمد الفارسي", "Machine Learning"),
                ('say "hi" \\ there', "urn:uuid:3f1c2f39-2a64-4c5c-9d57-5d1f0bdb1f10"),
            ],
            start=10,
        )
    ]

    documents = {url: read_pinned_context(url) for url in DEFAULT_CONTEXTS}
    documents[issuer.did] = issuer.did_document()
    documents[other.did] = other.did_document()
    documents[issuer.list_url] = status_list
    cases = [
        {"name": "valid", "credential": valid},
        {"name": "tampered subject", "credential": tampered_subject},
        {"name": "tampered proof", "credential": tampered_proof},
        {"name": "changed issuer", "credential": changed_issuer},
        {"name": "key of another issuer", "credential": wrong_key},
        {"name": "revoked", "credential": revoked},
        {"name": "status list", "credential": status_list},
        *({"name": f"built {i}", "credential": c} for i, c in enumerate(built)),
    ]

    output = _run(tmp_path, documents, cases)
    results = {result["name"]: result for result in output["results"]}

    assert output["contextsMatchNpm"] == {url: True for url in DEFAULT_CONTEXTS}
    assert results["valid"]["verified"], results["valid"]["errors"]
    assert results["valid"]["status"] == {"verified": True, "revoked": False}
    for name in ("tampered subject", "tampered proof", "changed issuer", "key of another issuer"):
        assert not results[name]["verified"], name
    assert any("Invalid signature" in e for e in results["changed issuer"]["errors"])
    assert any("issuer must match" in e for e in results["key of another issuer"]["errors"])
    assert not results["tampered subject"]["signature"]
    assert not results["tampered proof"]["signature"]
    assert results["revoked"]["signature"]
    assert results["revoked"]["status"] == {"verified": True, "revoked": True}
    assert results["status list"]["verified"], results["status list"]["errors"]
    for i in range(len(built)):
        assert results[f"built {i}"]["verified"], results[f"built {i}"]["errors"]
