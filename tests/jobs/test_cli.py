"""`akowe issue`: a CSV file issued from the command line, through the same service."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import httpx

from akowe.config import Settings
from tests.certificates.conftest import make_issuer
from tests.jobs.conftest import balance
from tests.test_cli import akowe


def test_akowe_issue_checks_then_issues_a_csv_and_writes_the_results_beside_it(
    settings: Settings, client: httpx.Client, make_account, tmp_path: Path
) -> None:
    account = make_account(credits=10)
    issuer = make_issuer(client, account)
    source = tmp_path / "class.csv"
    source.write_text(
        "Full name,email,Course Name,Grade\n"
        "Ada Obi,ada@example.com,Physics,A\n"
        "Bola Ade,not-an-email,Physics,B\n"
        "Chidi Eze,chidi@example.com,Physics,C\n"
    )
    common = [
        *("--account", account.account_id),
        *("--organization", issuer.organization_id),
        *("--template", issuer.template_id),
        *("--csv", str(source)),
        *("--mapping", '{"Full name": "name"}'),
    ]
    checked = akowe(settings, "issue", *common, "--dry-run", "--json")
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert report["counts"]["valid"] == 2
    assert report["errors"][0]["row"] == 2 and report["errors"][0]["column"] == "email"
    assert balance(client, issuer.headers) == 10

    done = akowe(settings, "issue", *common, "--json")
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "completed" and job["counts"]["issued"] == 2
    assert balance(client, issuer.headers) == 8
    with Path(job["resultsFile"]).open(encoding="utf-8-sig") as handle:
        results = list(csv.DictReader(handle))
    assert Path(job["resultsFile"]) == tmp_path / "class.results.csv"
    assert [r["status"] for r in results] == ["issued", "failed", "issued"]
    assert results[1]["errorCode"] == "invalid_email"
    listed = client.get(f"/api/jobs/{job['jobId']}", headers=issuer.headers)
    assert listed.status_code == 200  # the same job the API shows

    unknown = akowe(settings, "issue", *common[:4], *common[6:], "--template", "nope")
    assert unknown.returncode == 1 and "template" in unknown.stderr.lower()


def test_akowe_issue_follows_a_big_file_through_its_checking_to_the_end(
    settings: Settings, client: httpx.Client, make_account, tmp_path: Path
) -> None:
    # Over 1,000 rows the submission is recorded `validating` and checked by the workers:
    # the command runs those steps too before it writes the results.
    account = make_account(credits=2400)
    issuer = make_issuer(client, account)
    source = tmp_path / "big.csv"
    lines = [f"Student {n},student{n}@example.com,Physics,A" for n in range(1200)]
    lines[600] = "Student 600,not-an-email,Physics,A"
    source.write_text("name,email,Course Name,Grade\n" + "\n".join(lines) + "\n")
    issue = [
        "issue",
        *("--account", account.account_id),
        *("--organization", issuer.organization_id),
        *("--template", issuer.template_id),
    ]
    done = akowe(settings, *issue, "--csv", str(source), "--json")
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "completed", job
    assert job["counts"]["issued"] == 1199 and job["counts"]["failed"] == 1
    assert balance(client, issuer.headers) == 2400 - 1199
    with Path(job["resultsFile"]).open(encoding="utf-8-sig") as handle:
        results = list(csv.DictReader(handle))
    assert len(results) == 1200 and results[600]["errorCode"] == "invalid_email"
    assert sum(r["status"] == "issued" for r in results) == 1199

    # Without --json the progress shows both phases, each counted to its end: 1,200 rows
    # checked (the invalid one too), then the 1,199 valid ones issued.
    again = source.with_name("again.csv")
    again.write_text(source.read_text().replace("@example.com", "@example.org"))
    shown = akowe(settings, *issue, "--csv", str(again))
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"checking .* 1200/1200", shown.stdout), shown.stdout
    assert re.search(r"issuing .* 1199/1199", shown.stdout), shown.stdout
    assert "1199 issued, 1 failed, 0 skipped of 1200" in shown.stdout
