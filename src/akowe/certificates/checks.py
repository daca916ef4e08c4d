"""Issue-time checks of a request against its template, before anything is recorded or spent.

A certificate is signed, charged and often emailed at once, so a mistake that would only show
on the finished PDF or in the recipient's inbox is refused instead (400, naming each problem):

- a `text` field whose attribute the recipient lacks would print nothing: the attribute must
  be sent (an empty string leaves the field blank on purpose);
- a `{{placeholder}}` in the email's subject or body that nothing fills would be sent as
  written: it must be a built-in (`name`, `organization`, `verificationUrl`,
  `certificateId`, ...) or one of the recipient's attributes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from akowe.certificates.schemas import IssueRequest
from akowe.delivery import service as delivery_service
from akowe.errors import FieldError, ValidationFailed

ATTRIBUTES = "recipientData.attributes."


def check_against_template(data: IssueRequest, fields: Sequence[Mapping[str, Any]]) -> None:
    """Refuse (ValidationFailed) attributes the template prints but the request lacks, and
    email placeholders that nothing fills; every problem is named."""
    missing = _missing_attributes(data, fields)
    placeholders = _unknown_placeholders(data)
    sentences = []
    if missing:
        keys = [error.field.removeprefix(ATTRIBUTES) for error in missing]
        sentences.append(
            f"recipientData.attributes lacks {_and(keys)}, which the template prints "
            '(send "" to leave a field blank on purpose)'
        )
    sentences.extend(f"{error.field}: {error.message}" for error in placeholders)
    if sentences:
        raise ValidationFailed("; ".join(sentences), [*missing, *placeholders])


def _missing_attributes(
    data: IssueRequest, fields: Sequence[Mapping[str, Any]]
) -> list[FieldError]:
    attributes = data.recipient_data.attributes
    by_folded = {_fold(key): key for key in attributes}
    printed = dict.fromkeys(f["text"] for f in fields if f.get("type") == "text" and f.get("text"))
    errors = []
    for key in printed:
        if key in attributes:
            continue
        message = 'is missing: the template prints it (send "" to leave it blank)'
        near = by_folded.get(_fold(key))
        if near is not None:
            message += f'; did you mean "{near}"?'
        errors.append(FieldError(f"{ATTRIBUTES}{key}", message))
    return errors


def _unknown_placeholders(data: IssueRequest) -> list[FieldError]:
    if not data.wants_email or data.mail_data is None:
        return []
    attributes = list(data.recipient_data.attributes)
    available = ", ".join(
        "{{" + name + "}}" for name in (*delivery_service.BUILT_IN_PLACEHOLDERS, *attributes)
    )
    errors = []
    for name, text in (("subject", data.mail_data.subject), ("body", data.mail_data.body)):
        unknown = delivery_service.unknown_placeholders(text or "", attributes)
        if unknown:
            listed = ", ".join("{{" + u + "}}" for u in unknown)
            plural = "s" if len(unknown) > 1 else ""
            errors.append(
                FieldError(
                    f"mailData.{name}", f"unknown placeholder{plural} {listed}: use {available}"
                )
            )
    return errors


def _and(keys: Sequence[str]) -> str:
    quoted = [f'"{key}"' for key in keys]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _fold(key: str) -> str:
    return " ".join(key.casefold().split())
