"""Query strings: a parameter a route does not take is a 400, never silently ignored.

`?recipientName=Ade` on a list once returned everything, as if it had filtered: a client with
a typo (or a parameter from another API) could not tell. Each list route names what it takes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from akowe.errors import FieldError, ValidationFailed


def reject_unknown(query: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """400 naming every query parameter not in `allowed` (and what is accepted)."""
    known = tuple(allowed)
    unknown = [name for name in query if name not in known]
    if not unknown:
        return
    accepted = ", ".join(known)
    errors = [
        FieldError(name, f"is not a query parameter of this route ({accepted})") for name in unknown
    ]
    raise ValidationFailed(
        f"Unknown query parameter {unknown[0]!r}: this route takes {accepted}", errors
    )
