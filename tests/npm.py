"""Independent implementations from the npm registry: find Node.js and a package's install.

Without them a test is skipped with a loud reason locally, and fails in CI (env CI set), so
CI can never pass without running it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def require_node(installed: Path, what: str) -> str:
    """The `node` executable, once `installed` (a package's directory under node_modules,
    from `npm ci` in its project) exists; `what` names the check for the skip or failure."""
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "Node.js is not installed"
    elif not installed.is_dir():
        project = next(
            p for p in (installed, *installed.parents) if p.name == "node_modules"
        ).parent
        problem = f"{installed.name} missing: run `npm ci` in {project}"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{what.upper()} CANNOT RUN IN CI: {problem}")
        pytest.skip(f"!!! {what.upper()} NOT RUN: {problem} !!!")
    assert node is not None
    return node
