"""What a fresh clone holds and does: `make clean` never touches the data, `make clean-data`
asks first, the licence is the one pyproject declares, every bundled font and context has its
licence next to it, and the README links only to files a clone has."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FONTS = ROOT / "src/akowe/rendering/fonts"
CONTEXTS = ROOT / "src/akowe/signing/contexts"


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A directory with the Makefile, a virtualenv stand-in and live data."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv/bin").mkdir(parents=True)
    (tmp_path / ".ruff_cache").mkdir()
    (tmp_path / "data/keys").mkdir(parents=True)
    (tmp_path / "data/akowe.db").write_bytes(b"SQLite format 3\x00 every certificate")
    (tmp_path / "data/keys/signing.key").write_text("secret")
    return tmp_path


def make(directory: Path, *targets: str, answer: str | None = None, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "AKOWE_DATA_DIR"} | env
    done = subprocess.run(
        ["make", "--no-print-directory", *targets],
        cwd=directory,
        input=answer,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        stdin=None if answer is not None else subprocess.DEVNULL,
    )
    return f"{done.returncode}\n{done.stdout}{done.stderr}"


def test_make_clean_keeps_the_data(clone: Path) -> None:
    out = make(clone, "clean")
    assert out.startswith("0\n"), out
    assert not (clone / ".venv").exists() and not (clone / ".ruff_cache").exists()
    assert (clone / "data/akowe.db").read_bytes().startswith(b"SQLite")
    assert (clone / "data/keys/signing.key").exists()


@pytest.mark.parametrize("answer", [None, "", "y\n", "yes\n", "no\n", "data\n"])
def test_make_clean_data_keeps_the_data_unless_delete_is_typed(
    clone: Path, answer: str | None
) -> None:
    out = make(clone, "clean-data", answer=answer)
    assert not out.startswith("0\n"), out
    assert 'Type "delete" to confirm' in out and "Kept data." in out
    assert (clone / "data/akowe.db").exists()


def test_make_clean_data_deletes_after_confirmation(clone: Path) -> None:
    out = make(clone, "clean-data", answer="delete\n")
    assert out.startswith("0\n"), out
    assert "every certificate" in out  # it said what would go
    assert not (clone / "data").exists()
    assert (clone / ".venv").exists()


def test_make_clean_data_follows_akowe_data_dir(clone: Path) -> None:
    (clone / "elsewhere").mkdir()
    out = make(clone, "clean-data", answer="delete\n", AKOWE_DATA_DIR="elsewhere")
    assert out.startswith("0\n"), out
    assert not (clone / "elsewhere").exists()
    assert (clone / "data/akowe.db").exists()


def test_the_licence_is_the_apache_2_text_that_pyproject_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert "APPENDIX: How to apply the Apache License to your work." in text
    assert len(text) > 11_000  # the full text, not a pointer to it


def _expand(pattern: str) -> list[str]:
    """`NotoSans{A,B}-{Regular,Bold}` -> the four names it stands for."""
    parts = re.split(r"\{([^}]*)\}", pattern)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def test_every_bundled_font_is_listed_with_its_licence_next_to_it() -> None:
    readme = (FONTS / "README.md").read_text()
    listed: dict[str, str] = {}
    for row in readme.splitlines():
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("Noto"):
            continue
        for name in cells[0].split(", "):
            for font in _expand(name):
                listed[font] = cells[-1]
    fonts = sorted(p.stem for p in FONTS.glob("*.tt[fc]")) + sorted(
        p.stem for p in FONTS.glob("*.otf")
    )
    assert fonts, "no bundled fonts found"
    unlisted = [f for f in fonts if f not in listed]
    assert not unlisted, f"fonts without a row (and licence) in fonts/README.md: {unlisted}"
    assert all("OFL" in listed[f] for f in fonts)
    assert "SIL OPEN FONT LICENSE Version 1.1" in (FONTS / "OFL.txt").read_text()


def test_every_pinned_context_names_a_licence() -> None:
    readme = (CONTEXTS / "README.md").read_text()
    for context in sorted(CONTEXTS.glob("*.json*")):
        [row] = [r for r in readme.splitlines() if f"`{context.name}`" in r]
        licence = row.strip("|").split("|")[-1]
        files = re.findall(r"`(LICENSE-[^`]+)`", licence)
        assert files or "https://" in licence, context.name
        assert all((CONTEXTS / name).is_file() for name in files), context.name


def test_the_readme_links_only_to_files_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if "://" not in t and not t.startswith("mailto:")]
    assert local, "expected links to LICENSE and the font licences"
    for target in local:
        path = (ROOT / target).resolve()
        assert path.is_relative_to(ROOT) and path.exists(), target
    assert "../" not in readme
