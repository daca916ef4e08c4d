"""The README's examples run as written, so they cannot drift from the service.

Every fenced `sh` block runs, in order, in one bash session (`set -euo pipefail`) in a
directory laid out like a clone (`.venv`, `./data`), against a server started there the way
`make run` starts it (`akowe serve --demo`), on a free port. Only `BASE` and `KEY` come from
the test, through the variables the README itself reads (`${BASE:-...}`, `${KEY:-...}`);
the background image is a 2 MB photo-sized JPEG made here. Lines like `# revoked` under a
command are its expected output. `python` blocks run too; the `text` block of CLI usage is
checked against the real CLI's options; `console` blocks are the make targets a person runs.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.conftest import PG_URL, _free_port, _postgres_database

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
AKOWE = Path(sys.executable).with_name("akowe")  # the virtualenv's console script
PHOTO_BYTES = 2_000_000


def blocks(language: str) -> list[str]:
    """The README's fenced blocks of one language, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", README, re.MULTILINE | re.DOTALL)


@dataclass
class Clone:
    directory: Path
    base: str
    key: str
    env: dict[str, str]


@pytest.fixture
def clone(tmp_path: Path) -> Iterator[Clone]:
    """A clone-like directory with the demo server of `make run` running in it."""
    directory = tmp_path / "akowe"
    directory.mkdir()
    (directory / ".venv").symlink_to(AKOWE.parent.parent, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKOWE_")}
    env |= {"AKOWE_WORKER_ENABLED": "0", "COLUMNS": "100"}
    databases = _postgres_database(PG_URL) if PG_URL else iter([None])
    database = next(databases)
    if database is not None:
        env["AKOWE_DATABASE_URL"] = database
    port = _free_port()
    server = subprocess.Popen(
        [str(AKOWE), "serve", "--demo", "--port", str(port)],
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        printed = ""
        deadline = time.monotonic() + 90
        while "--data ''" not in printed:
            assert time.monotonic() < deadline and server.poll() is None, printed
            printed += server.stdout.readline()  # type: ignore[union-attr]
        key = re.search(r"x-api-key: (live-[0-9a-f-]+)", printed).group(1)  # type: ignore[union-attr]
        yield Clone(directory, f"http://127.0.0.1:{port}", key, env)
    finally:
        server.terminate()
        server.communicate(timeout=30)
        for _ in databases:  # drops the PostgreSQL database
            pass


def _photo(path: Path) -> None:
    """A photo-sized JPEG of at least 2 MB (noise does not compress: like a real photo)."""
    image = Image.frombytes("RGB", (1600, 1131), os.urandom(1600 * 1131 * 3))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    assert len(buffer.getvalue()) >= PHOTO_BYTES
    path.write_bytes(buffer.getvalue())


def _expected_outputs(script: str) -> list[str]:
    return [line[2:] for line in script.splitlines() if line.startswith("# ")]


def test_the_readme_shell_examples_run_as_written(clone: Clone) -> None:
    scripts = blocks("sh")
    assert len(scripts) >= 5
    _photo(clone.directory / "background.jpg")
    script = "\n".join(scripts)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=clone.directory,
        env={**clone.env, "BASE": clone.base, "KEY": clone.key},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    out = done.stdout.splitlines()
    position = 0
    for expected in _expected_outputs(script):
        assert expected in out[position:], (expected, done.stdout)
        position = out.index(expected, position) + 1

    files = clone.directory
    assert (files / "template.json").stat().st_size > PHOTO_BYTES * 4 // 3
    assert (files / "preview.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert (files / "certificate.pdf").read_bytes().startswith(b"%PDF-")
    issued = json.loads((files / "issued.json").read_text())["data"]
    assert issued["recipientName"] == "Adéwálé Ògúnlé"
    assert issued["emailStatus"] == "queued"
    assert f"{clone.base}/verify/{issued['certificateId']}" in out
    # The CLI examples worked on the server's own data: 10 demo credits - 1 issued - 2 in the
    # bulk job + 50 added.
    balance = httpx.get(f"{clone.base}/api/users/balance", headers={"x-api-key": clone.key})
    assert balance.json()["data"]["balance"] == 57
    results = (files / "results.csv").read_text(encoding="utf-8-sig").splitlines()
    assert results[0] == "name,email,Course Name,status,certificateId,errorCode,errorMessage"
    assert results[2].startswith('"Okafor, Chidi",chidi@example.com,Data Science,issued,')
    assert "demo@akowe.local" in done.stdout  # `akowe accounts list`


def test_the_readme_python_example_verifies_a_real_signature() -> None:
    [code] = blocks("python")
    namespace: dict[str, object] = {}
    exec(code, namespace)
    verify = namespace["verify"]
    secret, body, now = "whsec_test", b'{"event":"certificate.issued"}', str(int(time.time()))
    signature = hmac.new(secret.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    header = f"t={now},v1={signature}"
    assert verify(secret, body, header) is True  # type: ignore[operator]
    assert verify(secret, body + b" ", header) is False  # type: ignore[operator]
    assert verify("other", body, header) is False  # type: ignore[operator]


def test_the_readme_cli_usage_matches_the_cli() -> None:
    # Click renders each command's help in this process (as the console script would): one
    # `akowe ... --help` process per usage line cost ~1.5 s of imports each, ~37 s in all.
    # tests/test_cli.py and others run the real console script.
    from typer.testing import CliRunner

    from akowe.cli.main import app

    runner = CliRunner()
    [usage] = [b for b in blocks("text") if b.startswith("akowe ")]
    for line in usage.splitlines():
        line = line.split("  #", 1)[0].strip()
        words = line.split()
        command = []
        for word in words[1:]:
            if word.startswith(("-", "[")) or word.isupper() or not word.isalpha():
                break
            command.append(word)
        help_text = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
        assert help_text.exit_code == 0, (line, help_text.output)
        for option in re.findall(r"--[a-z][a-z-]*", line):
            assert option in help_text.output, (line, option)


def test_make_run_is_the_demo_server_the_readme_describes() -> None:
    makefile = (ROOT / "Makefile").read_text()
    # install-run: only what running needs (the development tools come with `make test`).
    assert re.search(r"^run: install-run\n\t\$\(BIN\)/akowe serve --demo$", makefile, re.MULTILINE)
    quick_start = blocks("console")[0]
    assert "make run" in quick_start and "make test" in quick_start


def test_the_readme_names_the_tools_its_examples_need() -> None:
    for tool in ("`curl`", "`jq`", "GNU `base64`"):
        assert tool in README
    assert "akowe accounts list" in README
    # `akowe` is not on the PATH after `make run`: the examples call .venv/bin/akowe.
    assert not re.search(r"^\s*akowe ", "\n".join(blocks("sh")), re.MULTILINE)
