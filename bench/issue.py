"""Issuance benchmark: each figure against a baseline measured in the same run.

1. Sequential latency over HTTP (1 uvicorn worker, SQLite): p50/p95 of
   POST /api/certificates/issue from one keep-alive client in a separate process, vs the p50
   of GET /api/users/balance from the same client (interleaved request by request).
   Target: issue p50 < 5 ms.
2. Throughput, wrk 1 thread x 16 connections: issues/s vs balance req/s (interleaved rounds).
   Target: >= 300 issues/s. Checks: no non-2xx, every issue answered 201, and the ledger adds
   up (balance + certificates listed == credits granted; balance decrease vs 201s counted).
3. PDF renders/s on one core (servers stopped): render_pdf (1600x1131 JPEG background, name,
   date, two text attributes, QR) vs a bare reportlab page with one string; PDF size.
   Targets: >= 300 renders/s, <= 300 KB.

    python bench/issue.py [--rounds 5] [--requests 300] [--duration 5] [--connections 16]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.balance import BIN, free_port, start, wait_ready  # noqa: E402

CREDITS = 1_000_000
INITIAL = 10  # granted by `accounts create`
TEMPLATE_FIELDS = [
    {"type": "name", "text": "", "fontSize": 64, "x": 50, "y": 38, "isBold": True},
    {"type": "date", "text": "", "fontSize": 28, "x": 25, "y": 80},
    {"type": "text", "text": "course", "fontSize": 32, "x": 50, "y": 52},
    {"type": "text", "text": "grade", "fontSize": 32, "x": 50, "y": 60},
    {"type": "qr", "text": "", "fontSize": 150, "x": 88, "y": 80},
]
FIELD_DEFAULTS = {
    "fontFamily": "Noto Sans",
    "color": "#112233",
    "isBold": False,
    "isItalic": False,
    "alignment": "center",
}

WRK_LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) s2xx = 0; s201 = 0; other = 0 end
function response(status, headers, body)
  if status == 201 then s201 = s201 + 1 end
  if status >= 200 and status < 300 then s2xx = s2xx + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  local a, b, c = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("s2xx"); b = b + t:get("s201"); c = c + t:get("other")
  end
  io.write(string.format("COUNTS requests=%d s2xx=%d s201=%d other=%d\\n",
    summary.requests, a, b, c))
end
"""


# ---------------------------------------------------------------- sequential client process


def client_main(port: int, key: str, body_file: str, rounds: int, count: int) -> None:
    """Run in a separate process: per round, `count` balance GETs and `count` issue POSTs,
    interleaved one by one on one keep-alive connection; prints latencies (ms) as JSON."""
    body = Path(body_file).read_bytes()
    conn = http.client.HTTPConnection("127.0.0.1", port)
    get_headers = {"x-api-key": key}
    post_headers = {"x-api-key": key, "content-type": "application/json"}

    def call(method: str, path: str, payload: bytes | None, headers: dict[str, str], want: int):
        start = time.perf_counter()
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != want:
            raise SystemExit(f"{method} {path}: {response.status} {data[:500]!r}")
        return elapsed

    for _ in range(50):  # warm-up
        call("GET", "/api/users/balance", None, get_headers, 200)
        call("POST", "/api/certificates/issue", body, post_headers, 201)
    only = float(os.environ.get("BENCH_ISSUE_ONLY_SECONDS", "0"))
    if only:  # profiling mode: issue only, for `only` seconds
        n, deadline = 50, time.monotonic() + only
        while time.monotonic() < deadline:
            call("POST", "/api/certificates/issue", body, post_headers, 201)
            n += 1
        print(json.dumps({"rounds": [], "issued": n}))
        return
    results = []
    for _ in range(rounds):
        balance, issue = [], []
        for _ in range(count):
            balance.append(call("GET", "/api/users/balance", None, get_headers, 200))
            issue.append(call("POST", "/api/certificates/issue", body, post_headers, 201))
        results.append({"balance": balance, "issue": issue})
    print(json.dumps({"rounds": results, "issued": 50 + rounds * count}))


# ---------------------------------------------------------------- helpers


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def api(port: int, key: str, method: str, path: str, body: Any = None) -> tuple[int, Any, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"x-api-key": key}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    return response.status, json.loads(raw) if raw else None, response.headers


def balance_of(port: int, key: str) -> int:
    status, body, _ = api(port, key, "GET", "/api/users/balance")
    assert status == 200, body
    return int(body["data"]["balance"])


def count_listed(port: int, key: str) -> int:
    """Certificates as listed by GET /api/certificates, following X-Next-Cursor."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    total, cursor = 0, None
    while True:
        path = "/api/certificates?limit=100" + (f"&cursor={cursor}" if cursor else "")
        conn.request("GET", path, headers={"x-api-key": key})
        response = conn.getresponse()
        body = json.loads(response.read())
        assert response.status == 200, body
        total += len(body["data"])
        cursor = response.headers.get("X-Next-Cursor")
        if not cursor:
            conn.close()
            return total


def wrk(url: str, key: str, duration: int, connections: int, script: Path) -> dict[str, float]:
    out = subprocess.run(
        [
            *("wrk", "-t1", f"-c{connections}", f"-d{duration}s"),
            *("-H", f"x-api-key: {key}", "-s", str(script), url),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    counts = re.search(r"COUNTS requests=(\d+) s2xx=(\d+) s201=(\d+) other=(\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if rate is None or counts is None or non2xx or int(counts.group(4)):
        raise RuntimeError(f"wrk failed or saw non-2xx responses:\n{out}")
    requests, s2xx, s201, _ = (int(g) for g in counts.groups())
    return {
        "rate": float(rate.group(1)),
        "requests": requests,
        "s2xx": s2xx,
        "s201": s201,
        "errors": errors.group(1) if errors else "",
        "latency": re.search(r"Latency\s+(\S+)", out).group(1),  # type: ignore[union-attr]
    }


def setup(port: int, key: str, template_image: bytes) -> dict[str, Any]:
    """An organization and a template through the API; returns the issue body."""
    status, org, _ = api(port, key, "POST", "/api/profile/organization", {"name": "Bench Academy"})
    assert status == 201, org
    fields = [{**FIELD_DEFAULTS, **f} for f in TEMPLATE_FIELDS]
    image = "data:image/jpeg;base64," + base64.b64encode(template_image).decode()
    status, template, _ = api(
        port,
        key,
        "POST",
        "/api/templates",
        {
            "name": "Bench template",
            "imageUrl": image,
            "dimensions": {"width": 1600, "height": 1131},
            "fields": fields,
        },
    )
    assert status == 201, template
    return {
        "recipientData": {
            "name": "Adéwálé Ògúnlẹ̀",
            "email": "adewale@example.com",
            "attributes": {"course": "Advanced Typography", "grade": "Distinction"},
        },
        "organizationId": org["data"]["id"],
        "mailData": {"templateId": template["data"]["id"]},
    }


# ---------------------------------------------------------------- the three parts


def part_latency(port: int, key: str, body_file: Path, rounds: int, count: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            *(sys.executable, __file__, "_client", str(port), key, str(body_file)),
            *(str(rounds), str(count)),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if out.returncode:
        raise RuntimeError(f"client failed: {out.stderr}{out.stdout}")
    result = json.loads(out.stdout)
    p50s, p95s, b50s, ratios = [], [], [], []
    for i, r in enumerate(result["rounds"]):
        i50, i95, b50 = pct(r["issue"], 50), pct(r["issue"], 95), pct(r["balance"], 50)
        p50s.append(i50)
        p95s.append(i95)
        b50s.append(b50)
        ratios.append(i50 / b50)
        print(
            f"  round {i + 1}: issue p50 {i50:6.2f} ms  p95 {i95:6.2f} ms   "
            f"balance p50 {b50:5.2f} ms   issue/balance {i50 / b50:5.2f}x"
        )
    return {
        "issue_p50": statistics.median(p50s),
        "issue_p95": statistics.median(p95s),
        "balance_p50": statistics.median(b50s),
        "ratio": statistics.median(ratios),
        "issued": result["issued"],
    }


def part_throughput(
    port: int, key: str, rounds: int, duration: int, connections: int, scripts: dict[str, Path]
) -> dict[str, Any]:
    issue_url = f"http://127.0.0.1:{port}/api/certificates/issue"
    balance_url = f"http://127.0.0.1:{port}/api/users/balance"
    created = 0
    in_flight = 0
    # warm-up (its cut-off requests are debited too, so account for them)
    before = balance_of(port, key)
    warm = wrk(issue_url, key, 2, connections, scripts["issue"])
    time.sleep(0.3)
    created += warm["s201"]
    in_flight += (before - balance_of(port, key)) - warm["s201"]
    wrk(balance_url, key, 2, connections, scripts["balance"])
    issues, balances, ratios = [], [], []
    for i in range(rounds):
        before = balance_of(port, key)
        a = wrk(issue_url, key, duration, connections, scripts["issue"])
        time.sleep(0.3)  # let requests cut off by wrk's stop finish server-side
        after = balance_of(port, key)
        b = wrk(balance_url, key, duration, connections, scripts["balance"])
        if a["s201"] != a["s2xx"]:
            raise RuntimeError(f"issue answered 2xx other than 201: {a}")
        created += a["s201"]
        gap = (before - after) - a["s201"]
        in_flight += gap
        issues.append(a["rate"])
        balances.append(b["rate"])
        ratios.append(a["rate"] / b["rate"])
        print(
            f"  round {i + 1}: issue {a['rate']:7.0f} /s (lat avg {a['latency']})   "
            f"balance {b['rate']:7.0f} /s   ratio {a['rate'] / b['rate']:.2f}   "
            f"201s {a['s201']}, debited {before - after} (+{gap} cut off by wrk's stop)"
            + (f"  socket errors: {a['errors']}" if a["errors"] else "")
        )
    return {
        "issues": statistics.median(issues),
        "balance": statistics.median(balances),
        "ratio": statistics.median(ratios),
        "created_201": created,
        "in_flight": in_flight,
    }


def top_frames(raw: Path, limit: int = 25) -> None:
    """Print the top self-time and inclusive frames of a py-spy raw (collapsed) profile."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        frames = stack.split(";")
        total += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
    if not total:
        print("  (no samples)")
        return
    print(f"  {total} samples; top self time:")
    for frame, count in sorted(own.items(), key=lambda kv: -kv[1])[:limit]:
        print(f"    {100 * count / total:5.1f}%  {frame}")
    print("  top inclusive (akowe, sqlalchemy, litestar, pydantic frames):")
    picked = [
        kv
        for kv in sorted(inclusive.items(), key=lambda kv: -kv[1])
        if any(m in kv[0] for m in ("akowe", "sqlalchemy", "litestar", "pydantic", "sqlite"))
    ]
    for frame, count in picked[:limit]:
        print(f"    {100 * count / total:5.1f}%  {frame}")


def py_spy(
    server_pid: int, seconds: int, out: Path, *, subprocesses: bool = False
) -> subprocess.Popen[bytes]:
    """py-spy the server: the thread holding the GIL, or (`subprocesses`) every busy thread
    of the server and of its worker processes (where bulk jobs sign and render)."""
    scope = ("--subprocesses",) if subprocesses else ("--gil",)
    return subprocess.Popen(
        [
            *(str(BIN / "py-spy"), "record", "-p", str(server_pid), "-d", str(seconds)),
            *("-r", "500", "-f", "raw", "-o", str(out), "--nonblocking", *scope),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def profile_issue(
    server_pid: int, port: int, key: str, seconds: int, connections: int, script: Path, out: Path
) -> int:
    """py-spy the server while wrk issues; prints where the time goes; returns 201s seen."""
    spy = py_spy(server_pid, seconds, out)
    time.sleep(0.5)
    result = wrk(
        f"http://127.0.0.1:{port}/api/certificates/issue", key, seconds, connections, script
    )
    _, err = spy.communicate(timeout=seconds + 30)
    if spy.returncode:
        print(f"  py-spy failed: {err.decode()[-500:]}")
        return int(result["s201"])
    print(f"  under py-spy: {result['rate']:.0f} issues/s, {result['s201']} created; raw at {out}")
    top_frames(out)
    return int(result["s201"])


def profile_sequential(
    server_pid: int, port: int, key: str, seconds: int, body_file: Path, out: Path
) -> int:
    """py-spy the server while one client issues sequentially (no balance calls)."""
    spy = py_spy(server_pid, seconds, out)
    time.sleep(0.5)
    client = subprocess.run(
        [sys.executable, __file__, "_client", str(port), key, str(body_file), "1", "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "BENCH_ISSUE_ONLY_SECONDS": str(seconds)},
    )
    _, err = spy.communicate(timeout=seconds + 30)
    if client.returncode or spy.returncode:
        raise RuntimeError(f"profiling failed: {client.stderr} {err.decode()[-500:]}")
    done = json.loads(client.stdout)
    print(f"  under py-spy: {done['issued']} sequential issues; raw at {out}")
    top_frames(out)
    return int(done["issued"])


def part_render(rounds: int, count: int) -> dict[str, Any]:
    from akowe.rendering import TemplateSpec, render_pdf
    from bench.render import FIELDS, HEIGHT, NAMES, WIDTH, background, baseline, data, pdf, timed

    template = TemplateSpec("bench-issue:1", WIDTH, HEIGHT, background("JPEG"), FIELDS)
    render_pdf(template, data(NAMES[0], 0))  # fills the background cache
    cases = {"baseline": baseline, "render_pdf": partial(pdf, template, NAMES)}
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, render in cases.items():
            rates[name].append(timed(render, count))
    ratios = [a / b for a, b in zip(rates["render_pdf"], rates["baseline"], strict=True)]
    size = len(render_pdf(template, data(NAMES[0], 1))) / 1024
    for i in range(rounds):
        print(
            f"  round {i + 1}: render_pdf {rates['render_pdf'][i]:6.0f} /s   "
            f"bare reportlab {rates['baseline'][i]:6.0f} /s   ratio {ratios[i]:.3f}"
        )
    return {
        "pdf": statistics.median(rates["render_pdf"]),
        "baseline": statistics.median(rates["baseline"]),
        "ratio": statistics.median(ratios),
        "size_kb": size,
        "source_kb": len(template.background) / 1024,
    }


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300, help="per endpoint per round (1.)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (2.)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--renders", type=int, default=200, help="per case per round (3.)")
    parser.add_argument("--skip-render", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the data dir, print its path")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the server during an extra wrk issue run"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    from bench.render import background

    data_dir = tempfile.mkdtemp(prefix="akowe-bench-issue-")
    env = {**os.environ, "AKOWE_DATA_DIR": data_dir, "AKOWE_LOG_LEVEL": "WARNING"}
    env.setdefault("AKOWE_SECRET_KEY", secrets.token_urlsafe(32))
    env.setdefault("AKOWE_RATE_LIMIT", "1000000/second")  # measured, not throttled
    env.pop("AKOWE_DATABASE_URL", None)

    def cli(*argv: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(BIN / "akowe"), *argv], env=env, check=True, capture_output=True, text=True
        )
        return json.loads(done.stdout) if "--json" in argv else {}

    cli("db", "upgrade")
    account = cli(
        "accounts", "create", "--email", f"bench{time.time_ns()}@x.io",
        "--credits", str(INITIAL), "--json",
    )  # fmt: skip
    key, account_id = account["apiKey"], account["accountId"]
    cli("credits", "add", "--account", account_id, "--amount", str(CREDITS), "--json")
    granted = INITIAL + CREDITS

    port = free_port()
    server = start("akowe.main:create_app", port, env, factory=True)
    print(f"server pid {server.pid} on port {port}, data dir {data_dir}")
    try:
        wait_ready(f"http://127.0.0.1:{port}/api/users/balance", {"x-api-key": key})
        assert balance_of(port, key) == granted
        body = setup(port, key, background("JPEG"))
        body_file = Path(data_dir) / "issue.json"
        body_file.write_text(json.dumps(body))
        status, first, _ = api(port, key, "POST", "/api/certificates/issue", body)
        assert status == 201 and first["data"]["emailStatus"] == "not_requested", first
        issued = 1

        scripts = {
            "issue": Path(data_dir) / "issue.lua",
            "balance": Path(data_dir) / "balance.lua",
        }
        lua_body = json.dumps(json.dumps(body, ensure_ascii=False), ensure_ascii=False)
        scripts["issue"].write_text(
            'wrk.method = "POST"\n'
            f"wrk.body = {lua_body}\n"
            'wrk.headers["Content-Type"] = "application/json"\n' + WRK_LUA
        )
        scripts["balance"].write_text(WRK_LUA)

        print(f"\n1. sequential latency, 1 client, {args.rounds}x{args.requests} each, interleaved")
        lat = part_latency(port, key, body_file, args.rounds, args.requests)
        issued += lat["issued"]

        print(f"\n2. throughput, wrk -t1 -c{args.connections}, {args.rounds}x{args.duration}s each")
        thr = part_throughput(port, key, args.rounds, args.duration, args.connections, scripts)
        if args.profile:
            raw = Path(tempfile.gettempdir()) / f"akowe-issue-{port}.raw"
            print(f"\n   profiling the server (pid {server.pid}), one sequential client")
            issued += profile_sequential(server.pid, port, key, args.duration, body_file, raw)
            raw = raw.with_suffix(".wrk.raw")
            print(f"\n   profiling the server (pid {server.pid}), wrk -c{args.connections}")
            before = balance_of(port, key)
            created = profile_issue(
                server.pid, port, key, args.duration, args.connections, scripts["issue"], raw
            )
            time.sleep(0.3)
            thr["created_201"] += created
            thr["in_flight"] += (before - balance_of(port, key)) - created
        time.sleep(0.5)
        final = balance_of(port, key)
        listed = count_listed(port, key)
        with sqlite3.connect(Path(data_dir) / "akowe.db") as db:
            in_db = db.execute("SELECT count(*) FROM certificate").fetchone()[0]
            ledger = db.execute("SELECT count(*) FROM ledger_entry WHERE amount = -1").fetchone()[0]
            outbox_tables = [
                r[0]
                for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                if "outbox" in r[0] or "delivery" in r[0]
            ]
            queued = {
                t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in outbox_tables
            }
        counted = issued + thr["created_201"]
        print(
            f"\n  ledger check: granted {granted}, final balance {final}, certificates listed "
            f"{listed} (in db {in_db}, debit entries {ledger}); 201s counted by clients "
            f"{counted}, extra debits from requests cut off by wrk's stop {thr['in_flight']}; "
            f"delivery rows {queued}"
        )
        assert final + listed == granted, "balance + certificates listed != credits granted"
        assert listed == in_db == ledger
        assert granted - final == counted + thr["in_flight"]
        assert 0 <= thr["in_flight"] <= args.connections * (args.rounds + 2)
    finally:
        server.terminate()
        server.wait(timeout=10)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)

    rnd = None
    if not args.skip_render:
        print(f"\n3. PDF renders on one core, {args.rounds}x{args.renders} each, interleaved")
        rnd = part_render(args.rounds, args.renders)

    ok = lambda good: "OK  " if good else "MISS"  # noqa: E731
    print("\n================ summary (medians) ================")
    print(
        f"{ok(lat['issue_p50'] < 5)} issue latency p50 {lat['issue_p50']:6.2f} ms, "
        f"p95 {lat['issue_p95']:6.2f} ms   (target p50 < 5 ms)"
    )
    print(
        f"     balance latency p50 {lat['balance_p50']:6.2f} ms   "
        f"issue/balance p50 ratio {lat['ratio']:.2f}x"
    )
    print(
        f"{ok(thr['issues'] >= 300)} issue throughput {thr['issues']:7.0f} /s   "
        f"(target >= 300 /s, {args.connections} connections)"
    )
    print(
        f"     balance throughput {thr['balance']:7.0f} /s   issue/balance ratio {thr['ratio']:.2f}"
    )
    print(
        f"     ledger: balance {final} + {listed} certificates == {granted} granted; "
        f"no non-2xx responses"
    )
    if rnd is not None:
        print(
            f"{ok(rnd['pdf'] >= 300)} render_pdf {rnd['pdf']:6.0f} /s   (target >= 300 /s)   "
            f"bare reportlab {rnd['baseline']:6.0f} /s   ratio {rnd['ratio']:.3f}"
        )
        print(
            f"{ok(rnd['size_kb'] <= 300)} PDF size {rnd['size_kb']:.0f} KB   (target <= 300 KB; "
            f"JPEG background {rnd['source_kb']:.0f} KB)"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_client":
        port, key, body_file, rounds, count = sys.argv[2:7]
        client_main(int(port), key, body_file, int(rounds), int(count))
    else:
        main()
