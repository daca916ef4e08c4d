"""Finding the embedded credential.json in a certificate PDF, however it was attached."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    TextStringObject,
)

from akowe.signing import extract_credential_from_pdf
from akowe.signing.exceptions import InvalidImage, SigningInputError


def _pdf(build: Any = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(200, 100)
    if build is not None:
        build(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _filespec(writer: PdfWriter, name: str, data: bytes, key: str = "/UF") -> DictionaryObject:
    stream = DecodedStreamObject()
    stream.set_data(data)
    stream[NameObject("/Type")] = NameObject("/EmbeddedFile")
    spec = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Filespec"),
            NameObject(key): TextStringObject(name),
            NameObject("/EF"): DictionaryObject({NameObject("/F"): writer._add_object(stream)}),
            NameObject("/AFRelationship"): NameObject("/Data"),
        }
    )
    return spec


CREDENTIAL = {"@context": ["https://www.w3.org/ns/credentials/v2"], "id": "urn:x"}


def test_credential_in_the_embedded_files_name_tree_is_found() -> None:
    pdf = _pdf(
        lambda w: (
            w.add_attachment("readme.txt", b"hello"),
            w.add_attachment("credential.json", json.dumps(CREDENTIAL).encode()),
        )
    )
    assert extract_credential_from_pdf(pdf) == CREDENTIAL


def test_credential_as_a_catalog_associated_file_is_found() -> None:
    def build(writer: PdfWriter) -> None:
        spec = _filespec(writer, "credential.json", json.dumps(CREDENTIAL).encode())
        writer.root_object[NameObject("/AF")] = ArrayObject([writer._add_object(spec)])

    assert extract_credential_from_pdf(_pdf(build)) == CREDENTIAL


def test_credential_as_a_page_associated_file_named_only_by_f_is_found() -> None:
    def build(writer: PdfWriter) -> None:
        spec = _filespec(writer, "Credential.JSON", json.dumps(CREDENTIAL).encode(), key="/F")
        writer.pages[0][NameObject("/AF")] = ArrayObject([writer._add_object(spec)])

    assert extract_credential_from_pdf(_pdf(build)) == CREDENTIAL


def test_a_pdf_without_the_file_has_no_credential() -> None:
    assert extract_credential_from_pdf(_pdf(lambda w: w.add_attachment("x.json", b"{}"))) is None
    assert extract_credential_from_pdf(_pdf()) is None


def test_invalid_json_in_the_file_and_non_pdf_bytes_are_refused() -> None:
    with pytest.raises(SigningInputError, match="not valid JSON"):
        extract_credential_from_pdf(_pdf(lambda w: w.add_attachment("credential.json", b"{no")))
    with pytest.raises(InvalidImage):
        extract_credential_from_pdf(b"%PNG not a pdf")
