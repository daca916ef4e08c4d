"""Recipients from a spreadsheet: CSV (UTF-8 with or without BOM, `,`, `;` or tab, quoted
fields that may hold newlines, Excel's `sep=;` first line) or XLSX (the first sheet), and a
column mapping.

A file that cannot be read as a table (bad encoding, broken quoting, a row with more cells
than the header) is refused whole with a 400 that names the line; a readable row with bad
values is the job's business (reported per row).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from akowe.errors import ValidationFailed
from akowe.jobs.schemas import MAX_ROWS

NAME, EMAIL, ATTRIBUTE = "name", "email", "attributes."
_XLSX_MAGIC = b"PK\x03\x04"


class MalformedFile(ValidationFailed):
    """The file is not a readable table."""

    code = "malformed_file"


@dataclass(frozen=True, slots=True)
class Table:
    """A header and its rows (every row as long as the header)."""

    columns: list[str]
    rows: list[list[str]]


@dataclass(frozen=True, slots=True)
class Input:
    """One recipient as sent, and where each of its values came from."""

    row: int
    name: str | None
    email: str | None
    attributes: dict[str, Any]
    cells: list[Any]


@dataclass(frozen=True, slots=True)
class Columns:
    """Which input column feeds `name`, `email` and each attribute (for error reports)."""

    name: str | None
    email: str | None
    attributes: dict[str, str]

    def of(self, field: str) -> str | None:
        """The input column of an issue-request field path (`recipientData.attributes.X`)."""
        if field.endswith(".name") or field == NAME:
            return self.name or NAME
        if field.endswith(".email") or field == EMAIL:
            return self.email or EMAIL
        marker = ".attributes."
        if marker in field:
            key = field.split(marker, 1)[1]
            return self.attributes.get(key, f"{ATTRIBUTE}{key}")
        return None


def read_table(content: bytes, file_name: str | None) -> Table:
    """The file as a table: XLSX by its name or signature, CSV otherwise."""
    is_xlsx = (file_name or "").lower().endswith(".xlsx") or content.startswith(_XLSX_MAGIC)
    table = _read_xlsx(content) if is_xlsx else _read_csv(content)
    if not table.columns:
        raise MalformedFile.field("file", "is empty: the first line must name the columns")
    if not table.rows:
        raise MalformedFile.field("file", "has a header and no recipients")
    if len(table.rows) > MAX_ROWS:
        raise MalformedFile.field(
            "file", f"has {len(table.rows):,} rows: at most {MAX_ROWS:,} per job"
        )
    seen: set[str] = set()
    for column in table.columns:
        if not column:
            raise MalformedFile.field("file", "line 1: every column needs a name")
        if column in seen:
            raise MalformedFile.field("file", f'line 1: the column "{column}" appears twice')
        seen.add(column)
    return table


# Excel's "sep=;" first line names the delimiter (it writes one where the list separator is
# not a comma, and reads it back); it is not part of the table.
_SEP_LINE = re.compile(r"sep=(.)\r?")
_DELIMITERS = (",", ";", "\t")


def _read_csv(content: bytes) -> Table:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise MalformedFile.field(
            "file", "line 1: UTF-16 text (Excel's Unicode Text): save the file as CSV UTF-8"
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise MalformedFile.field(
            "file", f"line {line}: not UTF-8 text (save the file as CSV UTF-8)"
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise MalformedFile.field("file", f"line {line}: holds a NUL byte")
    first = text.partition("\n")[0]
    directive = _SEP_LINE.fullmatch(first)
    # Else the header's most frequent of `,`, `;` and tab (a comma when none is there).
    delimiter = directive.group(1) if directive else max(_DELIMITERS, key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    if directive is not None:
        next(reader, None)  # line 1 is the directive: line numbers still count it
    rows: list[list[str]] = []
    columns: list[str] = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # blank lines
            if not columns:
                columns = [cell.strip() for cell in cells]
                continue
            if len(cells) > len(columns):
                raise MalformedFile.field(
                    "file",
                    f"line {reader.line_num}: {len(cells)} cells for {len(columns)} columns "
                    "(quote values that contain the delimiter)",
                )
            rows.append(cells + [""] * (len(columns) - len(cells)))
            if len(rows) > MAX_ROWS:
                break
    except csv.Error as exc:
        raise MalformedFile.field("file", f"line {reader.line_num}: {exc}") from None
    return Table(columns, rows)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _read_xlsx(content: bytes) -> Table:
    from openpyxl import load_workbook  # type: ignore[import-untyped]

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise MalformedFile.field("file", f"is not a readable XLSX workbook ({exc})") from None
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            raise MalformedFile.field("file", "has no sheet")
        columns: list[str] = []
        rows: list[list[str]] = []
        for values in sheet.iter_rows(values_only=True):
            cells = [_cell(v) for v in values]
            if not any(cell.strip() for cell in cells):
                continue
            if not columns:
                while cells and not cells[-1].strip():
                    cells.pop()
                columns = [cell.strip() for cell in cells]
                continue
            extra = cells[len(columns) :]
            if any(cell.strip() for cell in extra):
                raise MalformedFile.field(
                    "file", f"row {len(rows) + 2}: a value beyond the last named column"
                )
            cells = cells[: len(columns)]
            rows.append(cells + [""] * (len(columns) - len(cells)))
            if len(rows) > MAX_ROWS:
                break
    finally:
        workbook.close()
    return Table(columns, rows)


def plan_columns(
    columns: Sequence[str],
    mapping: Mapping[str, str | None] | None,
    *,
    needs_email: bool = False,
) -> Columns:
    """Where each column goes: the mapping's choice (`name`, `email`, `attributes.<key>`, or
    empty to ignore the column); unmapped columns named `name` or `email` (any case) map
    themselves and every other column is an attribute named as the column. A file with no
    name column (or no email column, when the certificates are to be emailed) is refused
    whole, with the mapping that would likely fix it."""
    mapping = dict(mapping or {})
    unknown = [column for column in mapping if column not in columns]
    if unknown:
        listed = ", ".join(f'"{c}"' for c in unknown)
        raise ValidationFailed.field("mapping", f"names columns the file does not have: {listed}")
    name: str | None = None
    email: str | None = None
    attributes: dict[str, str] = {}
    for column in columns:
        target = mapping[column] if column in mapping else _default_target(column)
        if not target:
            continue
        if target in (NAME, EMAIL):
            if (name if target == NAME else email) is not None:
                raise ValidationFailed.field(
                    "mapping", f"two columns map to {target}: map one of them elsewhere"
                )
            if target == NAME:
                name = column
            else:
                email = column
        elif target.startswith(ATTRIBUTE) and target[len(ATTRIBUTE) :].strip():
            key = target[len(ATTRIBUTE) :]
            if key in attributes:
                raise ValidationFailed.field("mapping", f'two columns map to "{target}"')
            attributes[key] = column
        else:
            raise ValidationFailed.field(
                f"mapping.{column}",
                f'must be "name", "email", "attributes.<key>" or "" (got "{target}")',
            )
    if name is None:
        raise ValidationFailed.field("mapping", _no_column(NAME, "name", columns))
    if email is None and needs_email:
        raise ValidationFailed.field(
            "mapping", _no_column(EMAIL, "mail", columns, " (mailData sends each certificate)")
        )
    return Columns(name=name, email=email, attributes=attributes)


def _no_column(target: str, hint: str, columns: Sequence[str], why: str = "") -> str:
    message = f'no column gives the {target}{why}: add a "{target}" column or map one to "{target}"'
    near = next((column for column in columns if hint in column.casefold()), None)
    if near is not None:
        message += f' (for example "mapping": {{"{near}": "{target}"}})'
    return message


def _default_target(column: str) -> str:
    folded = column.strip().casefold()
    if folded in (NAME, EMAIL):
        return folded
    return f"{ATTRIBUTE}{column}"


def inputs_from_table(table: Table, plan: Columns) -> list[Input]:
    """One Input per row, by the column plan."""
    index = {column: i for i, column in enumerate(table.columns)}
    name_at = index[plan.name] if plan.name is not None else None
    email_at = index[plan.email] if plan.email is not None else None
    attribute_at = [(key, index[column]) for key, column in plan.attributes.items()]
    out = []
    for number, cells in enumerate(table.rows, start=1):
        email = cells[email_at].strip() if email_at is not None else ""
        out.append(
            Input(
                row=number,
                name=cells[name_at].strip() if name_at is not None else None,
                email=email or None,
                attributes={key: cells[at] for key, at in attribute_at},
                cells=list(cells),
            )
        )
    return out


def inputs_from_json(recipients: Iterable[Any]) -> tuple[list[str], list[Input]]:
    """The JSON body's recipients, and the columns results.csv shows them in."""
    keys: dict[str, None] = {}
    items = list(recipients)
    for recipient in items:
        keys.update(dict.fromkeys(str(k) for k in recipient.attributes))
    columns = [NAME, EMAIL, *(f"{ATTRIBUTE}{key}" for key in keys)]
    out = []
    for number, recipient in enumerate(items, start=1):
        attributes = dict(recipient.attributes)
        out.append(
            Input(
                row=number,
                name=recipient.name,
                email=(recipient.email or "").strip() or None,
                attributes=attributes,
                cells=[
                    recipient.name or "",
                    recipient.email or "",
                    *(_json_cell(attributes.get(key)) for key in keys),
                ],
            )
        )
    return columns, out


def _json_cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def results_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterable[str]:
    """results.csv, line by line: the input's columns, then each row's result."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*columns, "status", "certificateId", "errorCode", "errorMessage"])
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_safe(cell) for cell in row])
        yield buffer.getvalue()


def _safe(value: Any) -> str:
    # A cell a spreadsheet would run as a formula is prefixed so it stays text.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
