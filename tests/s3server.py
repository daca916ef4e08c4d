"""A real S3-compatible server on loopback for the object-store tests.

The machine has no internet (no AWS) and no MinIO package in Debian, so the tests run the
standalone S3 server of the `moto` package (`moto_server`, installed with the development
tools) as a subprocess on a free loopback port, and talk to it over HTTP with the same boto3
client production uses. moto keeps its buckets in memory: a restarted server is empty.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
from pydantic import SecretStr

from tests.conftest import _free_port

ACCESS_KEY = "akowe-test-access-key"
SECRET_KEY = "akowe-test-secret-key"
REGION = "us-east-1"


@dataclass
class S3Server:
    """A running `moto_server`; `restart()` stops it and starts a new one on the same port."""

    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.endpoint}/moto-api/", timeout=1)
                return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"moto_server did not start: {self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def client(self) -> Any:
        """A boto3 client for arranging and inspecting buckets."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def new_bucket(self) -> str:
        """A fresh, empty bucket."""
        name = f"akowe-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings(self, bucket: str, prefix: str = "files") -> dict[str, Any]:
        """The Settings fields that point the service at `bucket`."""
        return {
            "storage_url": f"s3://{bucket}/{prefix}",
            "s3_endpoint_url": self.endpoint,
            "s3_region": REGION,
            "s3_access_key_id": SecretStr(ACCESS_KEY),
            "s3_secret_access_key": SecretStr(SECRET_KEY),
            "s3_addressing_style": "path",
        }

    def env(self, bucket: str, prefix: str = "files") -> dict[str, str]:
        """The same settings as `AKOWE_*` variables, for server processes."""
        return {
            f"AKOWE_{name.upper()}": v.get_secret_value() if isinstance(v, SecretStr) else str(v)
            for name, v in self.settings(bucket, prefix).items()
        }


@contextmanager
def s3_server(log: Path) -> Iterator[S3Server]:
    """`moto_server` on a free loopback port for the duration of the block."""
    server = S3Server(port=_free_port(), log=log)
    server.start()
    try:
        yield server
    finally:
        server.stop()
