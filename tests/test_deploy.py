"""deploy/: the nginx configuration passes `nginx -t` and really proxies to two akowe
processes over TLS; the systemd units and Procfile name real commands and options."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from akowe.config import Settings
from tests.conftest import _free_port
from tests.processes import server_process
from tests.tls import self_signed

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)

needs_nginx = pytest.mark.skipif(
    NGINX is None and not os.environ.get("CI"),
    reason="nginx is not installed (.ci/run installs it: apt-get install nginx)",
)


def _config(directory: Path, **replace: str) -> Path:
    """deploy/nginx.conf with the certificate paths (and any `replace`) pointed at `directory`."""
    chain, private = self_signed(directory, "certs.example.org")
    text = (DEPLOY / "nginx.conf").read_text()
    text = text.replace("/etc/akowe/tls/fullchain.pem", str(chain))
    text = text.replace("/etc/akowe/tls/privkey.pem", str(private))
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = directory / "nginx.conf"
    path.write_text(text)
    return path


@needs_nginx
def test_the_nginx_configuration_is_valid(tmp_path: Path) -> None:
    assert NGINX is not None
    config = _config(tmp_path)
    checked = subprocess.run([NGINX, "-t", "-c", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr and "test is successful" in checked.stderr


@needs_nginx
def test_nginx_proxies_tls_to_either_process_and_hides_metrics(
    settings: Settings, tmp_path: Path, account
) -> None:  # type: ignore[no-untyped-def]
    assert NGINX is not None
    https, http = _free_port(), _free_port()
    with (
        server_process(settings, tmp_path / "a", tmp_path / "a.log") as a,
        server_process(settings, tmp_path / "b", tmp_path / "b.log") as b,
    ):
        ports = [url.rsplit(":", 1)[1] for url in (a.url, b.url)]
        config = _config(
            tmp_path,
            **{
                "user www-data;": "",
                "/run/nginx-akowe.pid": str(tmp_path / "nginx.pid"),
                "/var/log/nginx/akowe-error.log": str(tmp_path / "error.log"),
                "/var/log/nginx/akowe-access.log": str(tmp_path / "access.log"),
                "127.0.0.1:8001": f"127.0.0.1:{ports[0]}",
                "127.0.0.1:8002": f"127.0.0.1:{ports[1]}",
                "listen 443 ssl http2;": f"listen 127.0.0.1:{https} ssl http2;",
                "listen [::]:443 ssl http2;": "",
                "listen 80;": f"listen 127.0.0.1:{http};",
                "listen [::]:80;": "",
            },
        )
        nginx = subprocess.Popen(
            [NGINX, "-c", str(config), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # it logs to error.log
        )
        try:
            base = f"https://127.0.0.1:{https}"
            deadline = time.monotonic() + 20
            with httpx.Client(base_url=base, verify=False, timeout=10) as client:
                while True:
                    try:
                        client.get("/healthz")
                        break
                    except httpx.HTTPError:
                        assert nginx.poll() is None, (tmp_path / "error.log").read_text()
                        assert time.monotonic() < deadline
                        time.sleep(0.1)
                for _ in range(6):
                    answer = client.get("/api/users/balance", headers=account.headers())
                    assert answer.status_code == 200, answer.text
                    assert answer.json() == {"success": True, "data": {"balance": 10}}
                assert client.get("/readyz").status_code == 200
                assert client.get("/metrics").status_code == 404
                assert client.get("/healthz").headers["server"] == "nginx"  # no version
            redirect = httpx.get(f"http://127.0.0.1:{http}/api/users/balance")
            assert redirect.status_code == 301
            assert redirect.headers["location"].startswith("https://")
            # Both processes answered (least_conn with keep-alive spreads the requests).
            lines = (tmp_path / "access.log").read_text().splitlines()
            upstreams = {re.search(r'"upstream":"([^"]*)"', line).group(1) for line in lines}  # type: ignore[union-attr]
            assert {f"127.0.0.1:{p}" for p in ports} <= upstreams, upstreams
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)


def test_units_and_procfile_name_real_commands_and_options() -> None:
    commands = []
    for unit in DEPLOY.glob("*.service"):
        commands += re.findall(r"^ExecStart=\S+/akowe (.+)$", unit.read_text(), re.M)
    for line in (DEPLOY / "Procfile").read_text().splitlines():
        if line and not line.startswith("#"):
            commands.append(line.split("akowe ", 1)[1])
    assert len(commands) == 6
    for command in commands:
        words = command.split()
        name = words[0] if words[0] != "db" else "db " + words[1]
        options = [w for w in words if w.startswith("--")]
        shown = subprocess.run(
            [sys.executable, "-m", "akowe.cli", *name.split(), "--help"],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        assert shown.returncode == 0, (command, shown.stderr)
        for option in options:
            assert option in shown.stdout, (command, option)
    settings_names = set(Settings.model_fields)
    for line in (DEPLOY / "akowe.env").read_text().splitlines():
        if line.startswith("AKOWE_"):
            name = line.split("=", 1)[0].removeprefix("AKOWE_").lower()
            assert name in settings_names, name
