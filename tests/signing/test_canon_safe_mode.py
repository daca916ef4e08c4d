"""Safe-mode canonicalisation: what pyld would silently drop or rewrite is refused."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from pyld import jsonld  # type: ignore[import-untyped]

from akowe.signing.canon import Limits, canonicalize, strip_control_characters, strip_controls
from akowe.signing.exceptions import (
    CanonicalizationLimitExceeded,
    ContextIntegrityError,
    DocumentTooLarge,
    UnknownContext,
    UnsafeDocument,
)
from akowe.signing.loader import OB_V3P0, VC_V2, StaticDocumentLoader
from tests.signing.conftest import Issuer


def test_an_undefined_property_is_refused_not_dropped(issuer: Issuer) -> None:
    credential = issuer.credential()
    credential["credentialSubject"]["favouriteColour"] = "blue"

    with pytest.raises(UnsafeDocument, match="favouriteColour"):
        canonicalize(credential)


def test_pyld_alone_would_drop_the_undefined_property_silently(issuer: Issuer) -> None:
    credential = issuer.credential()
    loader = StaticDocumentLoader()
    plain = jsonld.normalize(
        credential, {"algorithm": "URDNA2015", "format": "application/n-quads", **loader.options()}
    )
    credential["credentialSubject"]["favouriteColour"] = "blue"
    tampered = jsonld.normalize(
        credential, {"algorithm": "URDNA2015", "format": "application/n-quads", **loader.options()}
    )
    assert plain == tampered  # the extra claim would be unsigned: the reason for safe mode


def test_an_undefined_type_is_refused_not_turned_into_a_relative_iri(issuer: Issuer) -> None:
    credential = issuer.credential()
    credential["type"] = ["VerifiableCredential", "OpenBadgeCredential", "DiplomaCredential"]

    with pytest.raises(UnsafeDocument, match="DiplomaCredential"):
        canonicalize(credential)


def test_a_relative_identifier_is_refused(issuer: Issuer) -> None:
    credential = issuer.credential()
    credential["id"] = "certificates/42"

    with pytest.raises(UnsafeDocument, match="certificates/42"):
        canonicalize(credential)


def test_an_unknown_context_url_is_refused_without_fetching(issuer: Issuer) -> None:
    credential = issuer.credential()
    credential["@context"] = [*credential["@context"], "https://evil.example/context.json"]

    with pytest.raises(UnknownContext, match=r"evil\.example"):
        canonicalize(credential)


def test_the_loader_refuses_urls_outside_its_allowlist_even_if_pinned() -> None:
    loader = StaticDocumentLoader()
    with pytest.raises(UnknownContext):
        loader("https://www.w3.org/ns/credentials/examples/v2", {})
    with pytest.raises(UnknownContext):
        loader("https://example.com/anything", {})
    assert loader(VC_V2, {})["document"]["@context"]["@protected"] is True


def test_an_inline_context_object_is_refused(issuer: Issuer) -> None:
    credential = issuer.credential()
    credential["@context"] = [VC_V2, OB_V3P0, {"favouriteColour": "https://example.com/colour"}]

    with pytest.raises(UnsafeDocument, match="Inline @context"):
        canonicalize(credential)


def test_a_modified_pinned_context_is_refused_by_hash(tmp_path: Path, issuer: Issuer) -> None:
    source = resources.files("akowe.signing").joinpath("contexts")
    for name in ("credentials-v2.jsonld", "ob-v3p0-context-3.0.3.json"):
        shutil.copyfile(Path(str(source.joinpath(name))), tmp_path / name)
    ob = tmp_path / "ob-v3p0-context-3.0.3.json"
    ob.write_text(ob.read_text().replace('"@protected": true', '"@protected": false', 1))
    loader = StaticDocumentLoader({VC_V2, OB_V3P0}, directory=tmp_path)

    with pytest.raises(ContextIntegrityError, match="SHA-256"):
        canonicalize(issuer.credential(), loader=loader)


def test_a_document_over_the_size_limit_is_refused(issuer: Issuer) -> None:
    credential = issuer.credential(attributes={"Essay": "x" * 5000})

    with pytest.raises(DocumentTooLarge):
        canonicalize(credential, limits=Limits(max_document_bytes=4096))


def test_a_document_with_too_many_blank_nodes_is_refused(issuer: Issuer) -> None:
    credential = issuer.credential(attributes={f"Key {n}": str(n) for n in range(20)})

    with pytest.raises(CanonicalizationLimitExceeded, match="blank nodes"):
        canonicalize(credential, limits=Limits(max_blank_nodes=10))


def test_control_characters_are_refused_unless_stripped_first(issuer: Issuer) -> None:
    name = "Ada\x08 Love\x0clace\x00\x1b[31m\x7f"
    credential = issuer.credential()
    credential["credentialSubject"]["name"] = name

    with pytest.raises(UnsafeDocument, match="control characters"):
        canonicalize(credential)

    canonical = canonicalize(strip_controls(credential))
    assert '"Ada Lovelace[31m"' in canonical
    assert not any((ord(c) < 0x20 and c != "\n") or ord(c) == 0x7F for c in canonical)


def test_stripping_keeps_tab_newline_and_carriage_return_which_pyld_escapes_correctly() -> None:
    assert strip_control_characters("a\tb\nc\rd\x00e\x08f\x0bg\x7fh") == "a\tb\nc\rdefgh"


def test_builder_strips_control_characters_from_recipient_data(issuer: Issuer) -> None:
    credential = issuer.credential(name="Bob\x07 Smith", attributes={"Gr\x00ade": "A\x0c+"})

    assert credential["credentialSubject"]["name"] == "Bob Smith"
    assert credential["credentialSubject"]["result"][0]["value"] == "A+"
    assert "Grade" in canonicalize(credential)


def test_canonicalisation_is_rdfc10_not_pyld_default_urgna2012() -> None:
    document: dict[str, Any] = {
        "@context": [VC_V2],
        "type": "VerifiableCredential",
        "issuer": "did:example:1",
        "credentialSubject": {"name": "A", "description": "B"},
        "description": "C",
    }
    loader = StaticDocumentLoader()
    ours = canonicalize(document, loader=loader)
    default = jsonld.normalize(document, {"format": "application/n-quads", **loader.options()})
    explicit = jsonld.normalize(
        document, {"algorithm": "URDNA2015", "format": "application/n-quads", **loader.options()}
    )
    assert ours == explicit
    assert ours != default


def test_memoised_context_processing_gives_the_same_canonical_form_as_a_cold_loader(
    issuer: Issuer,
) -> None:
    documents = [
        issuer.credential(),
        issuer.credential(name="Other", attributes={}),
        issuer.credential(attributes={f"K{n}": str(n) for n in range(6)}),
        issuer.did_document(),
        issuer.status_list_credential(),
        issuer.signed()["proof"] | {"@context": issuer.credential()["@context"]},
    ]
    warm = StaticDocumentLoader()
    for _ in range(3):
        for document in documents:
            cold = canonicalize(document, loader=StaticDocumentLoader())
            assert canonicalize(document, loader=warm) == cold
    assert len(warm.processed) > 0


def test_a_document_nested_too_deeply_is_refused_before_pyld_sees_it(issuer: Issuer) -> None:
    credential = issuer.credential()
    cursor = credential["credentialSubject"]
    for _ in range(40):
        cursor["name"] = {}
        cursor = cursor["name"]

    with pytest.raises(DocumentTooLarge, match="nested"):
        canonicalize(credential)
