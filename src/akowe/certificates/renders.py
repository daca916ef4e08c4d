"""Rendered files cached on disk: a certificate renders deterministically from stored data,
so its PDF never changes and is rendered once."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


class RenderCache:
    """`<data dir>/renders/<certificate id>.<variant>`, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get_or_render(self, name: str, render: Callable[[], bytes]) -> bytes:
        """The cached bytes, or render, store and return them."""
        path = self.root / name
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        data = render()
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
        return data
