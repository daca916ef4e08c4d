"""Credentials of one shape canonicalise through a learned dataset (`canonicalize_built`,
what signing uses): exactly the full path's N-Quads for every document, with pyld's
expansion run only when a shape is first seen, and the same refusals."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

import pytest

from akowe.signing import canon
from akowe.signing.canon import canonicalize, canonicalize_built
from akowe.signing.exceptions import SigningInputError
from tests.signing.conftest import BASE_URL, NOW, Issuer

# Text a credential carries, chosen to probe how JSON-LD turns strings into terms: scripts,
# marks and spaces, text that looks like an IRI, a compact IRI, a blank node or a keyword,
# quotes and backslashes, strings equal to the document's own identifiers.
TRICKY = (
    "Adéwálé Ògúnlẹ̀",
    "李小龙",
    "أحمد الفارسي",
    "Zoë  Saldaña ",
    "Dr: Foo",
    "mailto:someone@example.com",
    "urn:uuid:3f1c2f39-2a64-4c5c-9d57-5d1f0bdb1f10",
    "_:b0",
    "@id",
    'say "hi" \\ there',
    "line\nbreak\ttab",
    "A",
    "",
    f"{BASE_URL}/api/public/certificates/c0ffee/credential",
    f"{BASE_URL}/templates/777e143a-f685-48da-bc8d-39105b8336c0",
)


def _credential(issuer: Issuer, rng: random.Random, number: int) -> dict[str, Any]:
    name = rng.choice(TRICKY) if number % 2 else f"Recipient {number}"
    attributes = {
        "Course Name": rng.choice([*TRICKY, name]),
        "Grade": rng.choice(["Excellent", "Good", name]),
    }
    document = issuer.credential(
        name=name or "Someone",
        index=rng.randrange(131072),
        valid_until=NOW + timedelta(days=365) if number % 3 == 0 else None,
        attributes=attributes,
    )
    document["id"] = rng.choice(
        [
            f"{BASE_URL}/api/public/certificates/{uuid.UUID(int=rng.getrandbits(128))}/credential",
            f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}",
            document["credentialSubject"]["achievement"]["id"],  # an id equal to another
        ]
    )
    return document


def _outcome(fn: Any, document: dict[str, Any]) -> Any:
    try:
        return fn(document)
    except SigningInputError as error:
        return (type(error).__name__, error.message)


def test_every_built_document_canonicalises_exactly_as_the_full_path(issuer: Issuer) -> None:
    rng = random.Random(20261127)
    documents = [_credential(issuer, rng, number) for number in range(400)]
    reused = 0
    for document in documents:
        full = _outcome(canonicalize, document)
        built = _outcome(canonicalize_built, document)
        assert built == full, document
        reused += isinstance(full, str)
    assert reused == len(documents)  # each one canonicalised, none refused


def test_a_shape_is_expanded_when_first_seen_only(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    expansions = []
    to_rdf = canon._SafeProcessor.to_rdf

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        expansions.append(1)
        return to_rdf(self, *args, **kwargs)

    monkeypatch.setattr(canon._SafeProcessor, "to_rdf", counted)
    course = f"Course {uuid.uuid4()}"  # a shape no other test has seen
    documents = []
    for number in range(20):
        document = issuer.credential(
            name=f"Recipient {number}", index=number, attributes={course: f"grade {number}"}
        )
        document["id"] = f"urn:uuid:{uuid.uuid4()}"
        documents.append(document)
    canonical = [canonicalize_built(document) for document in documents]
    assert len(expansions) == 2  # learning the shape: once as is, once with strings pinned
    assert canonical == [canonicalize(document) for document in documents]
    assert len(set(canonical)) == len(documents)
    assert "Recipient 19" in canonical[-1] and "grade 19" in canonical[-1]


@pytest.mark.parametrize(
    ("where", "value", "refusal"),
    [
        ("name", "Bell\x07", "control characters"),
        ("id", "credentials/relative", "not an absolute IRI"),
        ("id", "https://example.com/has space", "not allowed in an IRI"),
        ("id", "_:b7", None),  # a blank node: allowed, and not a placeholder's IRI
    ],
)
def test_what_the_full_path_refuses_is_refused_the_same_way(
    issuer: Issuer, where: str, value: str, refusal: str | None
) -> None:
    ordinary = issuer.credential(name="Someone Ordinary")
    ordinary["id"] = "urn:uuid:0d5e0b4c-8a0f-4a53-9a52-4f4f7f1a9d11"
    canonicalize_built(ordinary)  # the shape is known
    document = issuer.credential(name="Someone Ordinary")
    if where == "name":
        document["credentialSubject"]["name"] = value
    else:
        document["id"] = value
    full = _outcome(canonicalize, document)
    if refusal is None:
        assert isinstance(full, str) and "_:c14n" in full
    else:
        assert isinstance(full, tuple) and refusal in full[1]
    assert _outcome(canonicalize_built, document) == full
