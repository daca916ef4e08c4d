"""One client cannot freeze the server: a burst of 256 connections (reads, then issues) while
another client polls /healthz every 100 ms.

The server is `akowe serve` in its own process on the test database; the burst comes from wrk
(a separate process, as a real client would be). Every monitor check must answer within 1 s
during and after the burst, no answer may be a 5xx other than a clean 503 envelope, and the
server's log must show no pool timeout or traceback. After the issue burst the ledger must add
up: nothing charged twice, nothing lost.

Besides the monitor (on a kept-alive connection), a new client arrives every 500 ms, each on a
new connection: a server that stops accepting while the burst holds 256 connections fails it
(`ARRIVAL_LIMIT`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from akowe.config import Settings
from tests.certificates.conftest import make_issuer
from tests.conftest import _free_port
from tests.processes import wait_healthy

CONNECTIONS = 256
SECONDS = 10
# A new client waits its turn behind the burst's 256 connections and their requests: 0.3-1.1 s
# here alone, up to ~2 s seen when CI's two test runs share the cores. A server that stops
# accepting under load (uvloop's own accept, before akowe.api.loop) answers it only when the
# burst ends, so bursts of at least twice this long tell the two apart.
ARRIVAL_LIMIT = 5.0
CREDITS = 100_000

# Counts answers by status; a 503 must carry the error envelope, anything else 5xx is a failure.
WRK_LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; busy = 0; bad503 = 0; other5xx = 0; other = 0 end
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1
  elseif status == 503 then
    busy = busy + 1
    if not string.find(body, '"success":false', 1, true) then bad503 = bad503 + 1 end
  elseif status >= 500 then other5xx = other5xx + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local t = {ok = 0, busy = 0, bad503 = 0, other5xx = 0, other = 0}
  for _, th in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + th:get(k) end
  end
  io.write(string.format("COUNTS ok=%d busy=%d bad503=%d other5xx=%d other=%d errors=%d\\n",
    t.ok, t.busy, t.bad503, t.other5xx, t.other,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""

# Latency under a burst, against checks taken meanwhile: CI runs these alone (.ci/run).
pytestmark = pytest.mark.alone


@dataclass
class Server:
    url: str
    log: Path
    process: subprocess.Popen[bytes]


@dataclass
class Poller:
    """Checks a URL and keeps each check's start, latency and status (-1: no answer).

    A monitor (the default) checks every `interval` on one kept-alive connection, the next
    check as soon as the last is answered if that took longer. An arrival check (`fresh`)
    opens a new connection for each check, one every `interval` on a fixed schedule whatever
    the last took: a server that stops accepting under load fails it."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    interval: float = 0.1
    fresh: bool = False
    limit: float = 1.0  # seconds each answer may take
    samples: list[tuple[float, float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        if self.fresh:
            with ThreadPoolExecutor(max_workers=64) as checks:
                tick = time.monotonic()
                while not self._stop.is_set():
                    checks.submit(self._check, None, tick)
                    tick += self.interval
                    self._stop.wait(max(0.0, tick - time.monotonic()))
            return
        with httpx.Client(timeout=30, headers=self.headers) as client:
            while not self._stop.is_set():
                start = time.monotonic()
                self._check(client, start)
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - start)))

    def _check(self, client: httpx.Client | None, start: float) -> None:
        try:
            if client is None:
                with httpx.Client(timeout=30, headers=self.headers) as own:
                    status = own.get(self.url).status_code
            else:
                status = client.get(self.url).status_code
        except httpx.HTTPError:
            status = -1
        # Latency counts from the scheduled moment (a check started late is as late).
        self.samples.append((start, time.monotonic() - start, status))

    def stop(self) -> None:
        self._stop.set()


@pytest.fixture
def load_server(
    settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Server]:
    if shutil.which("wrk") is None:
        if os.environ.get("CI"):
            pytest.fail("wrk is required in CI (apt-get install wrk)")
        pytest.skip("wrk is not installed (apt-get install wrk)")
    port = _free_port()
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "AKOWE_DATABASE_URL": settings.resolved_database_url,
        # The session's secret: the keys of organizations made by the test server decrypt.
        "AKOWE_SECRET_KEY": settings.secret_key.get_secret_value() if settings.secret_key else "",
        # The same file store as the test session (template backgrounds live there).
        "AKOWE_DATA_DIR": str(settings.data_dir),
        "AKOWE_BASE_URL": f"http://127.0.0.1:{port}",
        "AKOWE_WORKER_ENABLED": "0",
        "AKOWE_LOG_LEVEL": "WARNING",
        # The bursts measure the request model, not the rate limit (tests/api/test_rate_limit.py).
        "AKOWE_RATE_LIMIT": "1000000/second",
        **getattr(request, "param", {}),
    }
    # `akowe serve`, as deployed: its event loop (akowe.api.loop), protocol and timeouts.
    command = [sys.executable, "-m", "akowe.cli", "serve", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, process, log)
    try:
        yield Server(url, log, process)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _burst(
    server: Server,
    path: str,
    key: str,
    script: Path,
    seconds: int = SECONDS,
    neighbour: tuple[str, dict[str, str]] | None = None,
) -> dict[str, int]:
    """wrk at CONNECTIONS for `seconds` while a monitor checks /healthz (and, if given,
    another account's read) every 100 ms, and (in a long enough burst) a new client arrives
    for /healthz every 500 ms; returns wrk's counts."""
    pollers = [Poller(f"{server.url}/healthz")]
    if seconds >= 2 * ARRIVAL_LIMIT:
        pollers.append(
            Poller(f"{server.url}/healthz", interval=0.5, fresh=True, limit=ARRIVAL_LIMIT)
        )
    if neighbour is not None:
        pollers.append(Poller(f"{server.url}{neighbour[0]}", neighbour[1]))
    threads = [threading.Thread(target=p.run, daemon=True) for p in pollers]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    out = subprocess.run(
        [
            *("wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "30s"),
            *("-H", f"x-api-key: {key}", "-s", str(script), f"{server.url}{path}"),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    ended = time.monotonic()
    time.sleep(2)  # and after the burst
    for poller, thread in zip(pollers, threads, strict=True):
        poller.stop()
        thread.join(timeout=10)
    match = re.search(
        r"COUNTS ok=(\d+) busy=(\d+) bad503=(\d+) other5xx=(\d+) other=(\d+) errors=(\d+)", out
    )
    assert match, out
    counts = dict(
        zip(("ok", "busy", "bad503", "other5xx", "other", "errors"), map(int, match.groups()))
    )
    for poller in pollers:
        during = [s for s in poller.samples if started <= s[0] <= ended]
        # Each check is answered within its limit, so a monitor checks at least once a
        # second, and arrivals come on their schedule.
        least = seconds / poller.interval * 0.9 if poller.fresh else seconds / poller.limit
        assert len(during) >= least, f"too few checks of {poller.url}: {len(during)}"
        slowest = max(latency for _, latency, _ in poller.samples)
        failed = [s for s in poller.samples if s[2] != 200]
        kind = "new connections" if poller.fresh else "monitor"
        print(
            f"\n{path.split('/')[-1]}: {counts}; {poller.url} ({kind}): "
            f"{len(poller.samples)} answers, slowest {slowest * 1000:.0f} ms"
        )
        assert slowest < poller.limit, f"{poller.url} ({kind}) took {slowest:.2f} s"
        assert not failed, f"{poller.url} failed: {failed[:5]}"
    assert counts["other5xx"] == 0 and counts["bad503"] == 0, counts
    assert counts["other"] == 0 and counts["errors"] == 0, counts
    assert counts["ok"] > 0, counts
    return counts


def _issue_script(tmp_path: Path, body: dict[str, object]) -> Path:
    script = tmp_path / "issues.lua"
    payload = json.dumps(json.dumps(body))
    script.write_text(
        f'wrk.method = "POST"\nwrk.body = {payload}\n'
        'wrk.headers["Content-Type"] = "application/json"\n' + WRK_LUA
    )
    return script


def _ledger(engine: sa.Engine, account_id: str) -> tuple[int, int]:
    """(certificates, debits) of an account."""
    with engine.connect() as conn:
        issued = conn.execute(
            sa.text("SELECT count(*) FROM certificate WHERE account_id = :a"), {"a": account_id}
        ).scalar_one()
        debits = conn.execute(
            sa.text("SELECT count(*) FROM ledger_entry WHERE account_id = :a AND amount = -1"),
            {"a": account_id},
        ).scalar_one()
    return int(issued), int(debits)


def _clean_log(server: Server) -> None:
    text = server.log.read_text()
    for marker in ("Traceback", "PoolTimeout", "QueuePool limit", "TimeoutError"):
        assert marker not in text, f"{marker} in the server log:\n{text[-3000:]}"


def test_a_read_burst_and_an_issue_burst_cannot_freeze_the_server(
    load_server: Server, client: httpx.Client, make_account, engine: sa.Engine, tmp_path: Path
) -> None:
    account = make_account(credits=CREDITS)
    issuer = make_issuer(client, account)
    other = make_issuer(client, make_account())
    # Another account reads its organization throughout: one account's burst must not
    # exhaust the pool for everyone else.
    neighbour = (f"/api/profile/organization/{other.organization_id}", other.headers)
    with httpx.Client(base_url=load_server.url, timeout=30) as http:
        body = issuer.body()
        body["mailData"] = {"templateId": issuer.template_id}  # no email: no worker here
        first = http.post("/api/certificates/issue", headers=issuer.headers, json=body)
        assert first.status_code == 201, first.text
        certificate_id = first.json()["data"]["certificateId"]

        reads = tmp_path / "reads.lua"
        reads.write_text(WRK_LUA)
        _burst(
            load_server,
            f"/api/certificates/{certificate_id}",
            account.api_key,
            reads,
            neighbour=neighbour,
        )

        issues = _issue_script(tmp_path, body)
        counts = _burst(
            load_server, "/api/certificates/issue", account.api_key, issues, neighbour=neighbour
        )

        time.sleep(1)  # requests cut off by wrk's stop finish server-side
        balance = http.get("/api/users/balance", headers=issuer.headers).json()["data"]["balance"]
    issued, debits = _ledger(engine, account.account_id)
    # Every certificate was charged exactly once, and every charge has its certificate.
    assert balance + issued == CREDITS
    assert debits == issued
    assert issued >= 1 + counts["ok"]
    _clean_log(load_server)


SATURATED = {"AKOWE_DB_THREADS": "1", "AKOWE_DB_WAIT_TIMEOUT": "0.05"}


@pytest.mark.parametrize("load_server", [SATURATED], indirect=True)
def test_saturation_answers_a_clean_503_and_loses_nothing(
    load_server: Server, client: httpx.Client, make_account, engine: sa.Engine, tmp_path: Path
) -> None:
    """One database thread and a 50 ms admission wait: the burst must be refused in part, each
    refusal a 503 envelope with Retry-After, and the ledger still adds up."""
    account = make_account(credits=CREDITS)
    issuer = make_issuer(client, account)
    body = issuer.body()
    body["mailData"] = {"templateId": issuer.template_id}
    counts = _burst(
        load_server,
        "/api/certificates/issue",
        account.api_key,
        _issue_script(tmp_path, body),
        seconds=3,
    )
    assert counts["busy"] > 0, counts
    with httpx.Client(base_url=load_server.url, timeout=30) as http:
        # Look at one refusal whole: 64 requests at once against one database thread.
        with ThreadPoolExecutor(64) as pool:
            answers = list(
                pool.map(
                    lambda _: http.post(
                        "/api/certificates/issue", headers=issuer.headers, json=body
                    ),
                    range(64),
                )
            )
        refused = next(a for a in answers if a.status_code == 503)
        time.sleep(1)
        balance = http.get("/api/users/balance", headers=issuer.headers).json()["data"]["balance"]
    issued, debits = _ledger(engine, account.account_id)
    assert balance + issued == CREDITS and debits == issued
    assert "Traceback" not in load_server.log.read_text()
    assert refused.headers["retry-after"] == "1"
    assert refused.json() == {
        "success": False,
        "message": "The service is busy. Please retry in a moment.",
        "code": "service_busy",
    }
