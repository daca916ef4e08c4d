"""Live and sandbox (test) modes: every owned row records the mode it was created in."""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    """`live` data is real; `test` data lives in a sandbox that live keys never see."""

    LIVE = "live"
    TEST = "test"
