"""PDF/A-3b structure, checked with pikepdf and qpdf (no validator can be installed here).

What is checked: the header version and binary comment; XMP metadata (unfiltered) naming
part 3, conformance B, and agreeing with /Info on title, producer and dates; an sRGB output
intent (GTS_PDFA1) whose ICC profile LittleCMS reads as a 3-channel RGB display profile of
version <= 4.2; a trailer /ID; every font embedded (FontFile2) with /W widths equal to the
embedded program's advances; no encryption, no JavaScript, no annotations; associated files
listed in both /AF and /EmbeddedFiles with AFRelationship, MIME subtype and Params; and
qpdf --check finding no error.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pikepdf
import pytest
from fontTools.ttLib import TTFont
from PIL import ImageCms

from akowe.rendering import Attachment, CertificateData, TemplateSpec, render_pdf

CREDENTIAL = json.dumps(
    {"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiableCredential"]},
    indent=2,
).encode()


@pytest.fixture
def pdf(jpeg_template: TemplateSpec, data: CertificateData) -> bytes:
    """A certificate carrying the signed credential as an associated file."""
    attachment = Attachment("credential.json", CREDENTIAL, "application/ld+json", "Source")
    named = replace(data, recipient_name="Adéwálé 王小明 محمد")
    return render_pdf(jpeg_template, named, attachments=[attachment])


def test_header_declares_pdf_1_7_with_a_binary_comment(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-1.7\n%")
    assert all(byte > 127 for byte in pdf[10:14])


def test_xmp_identifies_pdfa_3b_and_agrees_with_the_info_dictionary(pdf: bytes) -> None:
    with pikepdf.open(io.BytesIO(pdf)) as document:
        metadata = document.Root.Metadata
        assert "/Filter" not in metadata
        assert metadata.Type == "/Metadata" and metadata.Subtype == "/XML"
        meta = document.open_metadata()
        assert meta["pdfaid:part"] == "3"
        assert meta["pdfaid:conformance"] == "B"
        info = document.docinfo
        assert meta["dc:title"] == str(info.Title) == "Certificate CERT-2026-000123"
        assert meta["pdf:Producer"] == str(info.Producer)
        assert str(info.CreationDate) == "D:20261125093000Z"
        assert meta["xmp:CreateDate"] == "2026-11-25T09:30:00Z"
        assert meta["xmp:ModifyDate"] == "2026-11-25T09:30:00Z"
        assert str(meta["xmpMM:DocumentID"]).startswith("uuid:")


def test_output_intent_is_srgb_with_an_embedded_icc_profile(pdf: bytes) -> None:
    with pikepdf.open(io.BytesIO(pdf)) as document:
        (intent,) = document.Root.OutputIntents
        assert intent.S == "/GTS_PDFA1"
        assert "sRGB" in str(intent.OutputConditionIdentifier)
        stream = intent.DestOutputProfile
        assert int(stream.N) == 3
        profile_bytes = stream.read_bytes()
    profile = ImageCms.ImageCmsProfile(io.BytesIO(profile_bytes))
    assert profile.profile.xcolor_space.strip() == "RGB"
    assert profile.profile.device_class == "mntr"
    assert profile_bytes[8:10] <= b"\x04\x20"  # ICC version at most 4.2


def test_the_output_profile_is_the_same_bytes_in_every_process_at_any_time(pdf: bytes) -> None:
    # LittleCMS stamps a new profile with the current time. Unfixed, two processes rendered
    # one certificate to different bytes (the emailed PDF and the downloaded one differed).
    with pikepdf.open(io.BytesIO(pdf)) as document:
        embedded = document.Root.OutputIntents[0].DestOutputProfile.read_bytes()
    time.sleep(1.1)  # a later second than this process's profile was made in
    code = (
        "import sys; from akowe.rendering.pdfa import srgb_profile; "
        "sys.stdout.buffer.write(srgb_profile())"
    )
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
    assert fresh == embedded
    assert struct.unpack(">6H", embedded[24:36]) == (2026, 1, 1, 0, 0, 0)


def test_document_has_an_id_and_no_forbidden_features(pdf: bytes) -> None:
    with pikepdf.open(io.BytesIO(pdf)) as document:
        assert len(document.trailer.ID) == 2
        assert not document.is_encrypted
        assert "/OpenAction" not in document.Root and "/AA" not in document.Root
        assert "/JavaScript" not in document.Root.get("/Names", {})
        assert "/Annots" not in document.pages[0]


def test_every_font_is_embedded_with_widths_that_match_the_program(pdf: bytes) -> None:
    with pikepdf.open(io.BytesIO(pdf)) as document:
        fonts = document.pages[0].Resources.Font
        assert len(fonts) >= 3
        for font in fonts.values():
            assert font.Subtype == "/Type0"
            descendant = font.DescendantFonts[0]
            program = descendant.FontDescriptor.FontFile2.read_bytes()
            tt = TTFont(io.BytesIO(program))
            advances = [tt["hmtx"][name][0] for name in tt.getGlyphOrder()]
            per_mille = 1000 / tt["head"].unitsPerEm
            cid_to_gid = descendant.CIDToGIDMap.read_bytes()
            first, widths = int(descendant.W[0]), list(descendant.W[1])
            for offset, width in enumerate(widths):
                cid = first + offset
                gid = int.from_bytes(cid_to_gid[2 * cid : 2 * cid + 2], "big")
                assert abs(float(width) - advances[gid] * per_mille) <= 1
            assert "/ToUnicode" in font


def test_qpdf_finds_no_error(pdf: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.pdf"
        path.write_bytes(pdf)
        checked = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "No syntax or stream encoding errors found" in checked.stdout


def test_credential_travels_as_an_associated_file_and_comes_back_byte_for_byte(
    pdf: bytes,
) -> None:
    with pikepdf.open(io.BytesIO(pdf)) as document:
        (spec,) = document.Root.AF
        assert spec.AFRelationship == "/Source"
        assert str(spec.UF) == "credential.json"
        stream = spec.EF.F
        assert stream.Subtype == "/application#2Fld+json" or str(stream.Subtype) == (
            "/application/ld+json"
        )
        assert int(stream.Params.Size) == len(CREDENTIAL)
        assert "/ModDate" in stream.Params
        names = document.Root.Names.EmbeddedFiles.Names
        assert str(names[0]) == "credential.json"
        attached = document.attachments["credential.json"]
        assert attached.get_file().read_bytes() == CREDENTIAL
        assert attached.get_file().mime_type == "application/ld+json"


def test_attachments_are_optional_and_relationships_are_checked(
    jpeg_template: TemplateSpec, data: CertificateData
) -> None:
    with pikepdf.open(io.BytesIO(render_pdf(jpeg_template, data))) as document:
        assert "/AF" not in document.Root and "/Names" not in document.Root
    with pytest.raises(ValueError, match="relationship"):
        render_pdf(
            jpeg_template,
            data,
            attachments=[Attachment("x.json", b"{}", "application/json", "Friend")],
        )
