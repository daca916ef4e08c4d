"""`pip install` of the built wheel alone gives a working service: fonts, JSON-LD contexts,
page templates and migrations ship as package data. The wheel is installed into a fresh
virtualenv (dependencies from the package index, as a deployment gets them) and its own
`akowe serve --demo` is started from a directory far from the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import _free_port

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_alone_serves_renders_and_signs(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = wheels.glob("akowe-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    # Only what running needs: none of the development tools came along.
    listed = subprocess.run(
        [str(venv / "bin" / "pip"), "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    for tool in ("pytest", "ruff", "mypy", "moto", "playwright", "schemathesis"):
        assert f"\n{tool}==" not in f"\n{listed}", tool

    port = _free_port()
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AKOWE_") and key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env["AKOWE_WORKER_ENABLED"] = "0"
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(venv / "bin" / "akowe"), "serve", "--demo", "--port", str(port)],
        cwd=run_dir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        assert httpx.get(f"{url}/readyz").status_code == 200  # migrations were in the wheel
        key = (run_dir / "data" / "demo-api-key").read_text().strip()
        headers = {"x-api-key": key}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            assert client.get("/api/users/balance").json()["data"] == {"balance": 10}
            organization = client.post("/api/profile/organization", json={"name": "Wheel U"})
            assert organization.status_code == 201, organization.text
            template = client.post(
                "/api/templates",
                json={
                    "name": "Wheel",
                    "imageUrl": _png(),
                    "dimensions": {"width": 400, "height": 283},
                    "fields": [
                        {
                            "type": "name",
                            "text": "",
                            "fontSize": 32,
                            "fontFamily": "Noto Sans",
                            "color": "#000000",
                            "isBold": False,
                            "isItalic": False,
                            "alignment": "center",
                            "x": 50,
                            "y": 50,
                        }
                    ],
                },
            )
            assert template.status_code == 201, template.text
            issued = client.post(
                "/api/certificates/issue",
                json={
                    "recipientData": {"name": "Ada Lovelace", "email": "ada@example.org"},
                    "organizationId": organization.json()["data"]["id"],
                    "templateId": template.json()["data"]["id"],
                },
            )
            assert issued.status_code == 201, issued.text
            certificate_id = issued.json()["data"]["certificateId"]
            # Bundled fonts draw the PDF; bundled JSON-LD contexts sign and verify it.
            pdf = client.get(f"/api/certificates/{certificate_id}/pdf")
            assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
            verdict = client.get(f"/api/public/verify/{certificate_id}").json()["data"]
            assert verdict["valid"] is True, verdict
            page = client.get(f"/verify/{certificate_id}")  # bundled page templates
            assert page.status_code == 200 and "VALID" in page.text
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _png() -> str:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (400, 283), (250, 250, 245)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_make_run_installs_only_what_running_needs(tmp_path: Path) -> None:
    plan = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "run", f"VENV={tmp_path / 'venv'}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "pip install --quiet -e ." in plan
    assert "[dev]" not in plan
    test_plan = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "test", f"VENV={tmp_path / 'venv'}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "-e '.[dev]'" in test_plan
