"""Read the signed credential a certificate PDF carries as the embedded file `credential.json`.

Tolerant of how the file was embedded: the document's EmbeddedFiles name tree, associated files
(`/AF`, PDF 2.0 and PDF/A-3) on the catalog or on a page, and file attachment annotations. The
file is matched by its name (`/UF`, `/F`, or its key in the name tree), case-insensitively.

pypdf is imported on the first upload to verify, not at start-up: about 19 MB of modules that
a server which never receives a PDF to check would otherwise carry.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

from akowe.signing.exceptions import InvalidImage, SigningInputError

if TYPE_CHECKING:
    from pypdf import PdfReader
    from pypdf.generic import DictionaryObject

CREDENTIAL_FILENAME: Final = "credential.json"
MAX_CREDENTIAL_BYTES: Final = 1024 * 1024


def extract_credential_from_pdf(
    pdf: bytes, *, filename: str = CREDENTIAL_FILENAME
) -> dict[str, Any] | None:
    """The credential JSON embedded in a PDF as `credential.json`, or None if it has none."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(pdf))
        data = _find_embedded(reader, filename.lower())
    except (PdfReadError, ValueError, KeyError, TypeError) as error:
        raise InvalidImage(f"The file is not a readable PDF: {error}") from error
    if data is None:
        return None
    if len(data) > MAX_CREDENTIAL_BYTES:
        raise SigningInputError("The embedded credential is too large.")
    try:
        credential = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SigningInputError("The embedded credential.json is not valid JSON.") from error
    if not isinstance(credential, dict):
        raise SigningInputError("The embedded credential.json is not a JSON object.")
    return credential


def _find_embedded(reader: PdfReader, wanted: str) -> bytes | None:
    for names, filespec in _filespecs(reader):
        if wanted in {_basename(name) for name in names if name}:
            data = _file_data(filespec)
            if data is not None:
                return data
    return None


def _filespecs(reader: PdfReader) -> Iterator[tuple[list[str], DictionaryObject]]:
    """Every file specification in the document, with the names it goes by."""
    from pypdf.generic import ArrayObject, DictionaryObject

    for embedded in reader.attachment_list:
        spec = embedded.pdf_object
        yield [embedded.name, *_spec_names(spec)], spec
    catalog = _resolve(reader.trailer.get("/Root"))
    if isinstance(catalog, DictionaryObject):
        yield from _associated(catalog)
    for page in reader.pages:
        yield from _associated(page)
        annotations = _resolve(page.get("/Annots"))
        if isinstance(annotations, ArrayObject):
            for item in annotations:
                annotation = _resolve(item)
                if (
                    isinstance(annotation, DictionaryObject)
                    and annotation.get("/Subtype") == "/FileAttachment"
                ):
                    spec = _resolve(annotation.get("/FS"))
                    if isinstance(spec, DictionaryObject):
                        yield _spec_names(spec), spec


def _associated(holder: DictionaryObject) -> Iterator[tuple[list[str], DictionaryObject]]:
    from pypdf.generic import ArrayObject, DictionaryObject

    files = _resolve(holder.get("/AF"))
    if isinstance(files, ArrayObject):
        for item in files:
            spec = _resolve(item)
            if isinstance(spec, DictionaryObject):
                yield _spec_names(spec), spec


def _spec_names(spec: DictionaryObject) -> list[str]:
    return [str(spec[key]) for key in ("/UF", "/F") if key in spec]


def _file_data(spec: DictionaryObject) -> bytes | None:
    from pypdf.generic import DictionaryObject, StreamObject

    streams = _resolve(spec.get("/EF"))
    if not isinstance(streams, DictionaryObject):
        return None
    for key in ("/UF", "/F"):
        stream = _resolve(streams.get(key))
        if isinstance(stream, StreamObject):
            data: bytes = stream.get_data()
            return data
    return None


def _resolve(value: Any) -> Any:
    """The object behind an indirect reference (or the value itself; None stays None)."""
    return value.get_object() if value is not None else None


def _basename(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1].lower()
