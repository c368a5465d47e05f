"""The organisers' reports through the API, the pages and the CLI, on the seeded county of
tests/catalog/test_reports_figures.py (3 townships x 10 branches, lessons across 2026Q1 and 2026Q2):

- JSON: every branch's figures as the seed says, the townships' sums and shares, the idle branches, 七一 coverage;
- who: the county's reviewers any scope; an organiser their own township (by default too), and another township
  answers exactly like one that does not exist (404); an uploader 403; nobody 401 with a Bearer challenge;
- CSV: a BOM, the Chinese headers, one row per branch, a Chinese file name (RFC 5987); XLSX read back with
  openpyxl: headers, widths, a totals row, the townships' sheet;
- bad periods: 422 invalid_period with a Chinese message;
- the weekly reminder as JSON, as text, on its page and from `weike reports remind`.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import openpyxl
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from catalog.accounts import create_account
from catalog.broadcast import county_today
from catalog.db import unit_of_work
from catalog.models import Lesson, utcnow
from tests.catalog.test_reports_figures import (
    KEYS,
    LOOSE_BRANCH,
    NOW,
    County,
    branch_name,
    expected_branch,
    seed_county,
)
from tests.support.accounts import PASSWORD, bearer, token_for
from workers.settings import Settings
from workers.wiring import context_for

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = {"county": ("reviewer", None), "admin": ("admin", None), "dongfeng": ("organiser", "东风镇"),
            "xiling": ("organiser", "西岭乡"), "uploader": ("uploader", branch_name(0, 0))}
HEADERS = ["支部", "乡镇", "上传", "发布", "退回", "待审", "发布分钟数", "最近发布", "本季度达标"]


@dataclass
class Reports:
    settings: Settings
    client: TestClient
    county: County
    auth: dict[str, dict[str, str]]

    def get(self, who: str | None, url: str, **params: Any) -> Any:
        return self.client.get(url, params=params, headers=self.auth[who] if who else {})


def make_accounts(settings: Settings, client: TestClient) -> dict[str, dict[str, str]]:
    """The same code as `weike users create` (the county is the seed's: no test county imported on top)."""
    with unit_of_work(context_for(settings).engine) as s:
        for name, (role, org) in ACCOUNTS.items():
            create_account(s, username=name, role=role, password=PASSWORD, org=org, actor="test")
    return {name: bearer(token_for(client, name)) for name in ACCOUNTS}


@pytest.fixture
def reports(tmp_path: Path) -> Iterator[Reports]:
    from tests.support.stacks import build_embedded

    settings = build_embedded(tmp_path / "var")
    county = seed_county(context_for(settings).engine)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield Reports(settings, client, county, make_accounts(settings, client))


def test_the_county_report_has_every_figure_of_the_seed(reports: Reports) -> None:
    r = reports.get("county", "/api/v1/reports/branches", period="2026Q1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["period"] == {"name": "2026Q1", "kind": "quarter", "start": "2026-01-01", "end": "2026-03-31"}
    assert body["scope"] == {"township_id": None, "name": None}
    assert body["requirement"] == [{"start": "2026-01-01", "end": "2026-03-31"}]
    ids = {reports.county.loose if t is None else reports.county.branches[(t, b)]: (t, b) for t, b in KEYS}
    assert len(body["branches"]) == 31
    for row in body["branches"]:
        want = expected_branch(reports.county, ids[row["branch_id"]], "2026Q1", now=NOW)
        want["last_published_on"] = want["last_published_on"].isoformat() if want["last_published_on"] else None
        assert {k: row[k] for k in want} == want, row["branch"]
    assert [(t["name"], t["branches"], t["met"], t["share_met"]) for t in body["townships"]] == [
        ("东风镇", 10, 5, 0.5), ("西岭乡", 10, 10, 1.0), ("南湖镇", 10, 0, 0.0), (None, 1, 1, 1.0)]
    assert body["totals"] | {"share_met": None} == {
        "township_id": None, "name": None, "branches": 31, "met": 16, "share_met": None, "uploaded": 21,
        "published": 17, "rejected": 1, "waiting": 2, "minutes_published": 185.0}
    assert [b["branch"] for b in body["idle_branches"]] == [branch_name(0, 6), branch_name(0, 9)] + [
        branch_name(2, b) for b in range(1, 10)]
    themed = body["themed"]
    assert themed["window"] == {"start": "2026-06-15", "end": "2026-07-15", "tag": "七一"}
    assert (themed["lessons"], themed["branches_covered"], themed["branches_total"]) == (4, 4, 31)
    assert [b["branch"] for b in themed["branches"]] == [branch_name(0, 0), branch_name(0, 1), branch_name(2, 6),
                                                         branch_name(2, 8)]


def _figures(r: Any) -> dict[str, Any]:
    """A report's JSON without the moment it was read."""
    assert r.status_code == 200, r.text
    return {k: v for k, v in r.json().items() if k != "as_of"}


def test_an_organiser_sees_their_township_and_no_other(reports: Reports) -> None:
    dongfeng, xiling = reports.county.townships[0], reports.county.townships[1]
    own = reports.get("dongfeng", "/api/v1/reports/branches", period="2026Q2")
    assert own.status_code == 200
    body = own.json()
    assert body["scope"] == {"township_id": dongfeng, "name": "东风镇"}
    assert {b["township"] for b in body["branches"]} == {"东风镇"} and len(body["branches"]) == 10
    assert (body["totals"]["met"], body["totals"]["uploaded"], body["totals"]["minutes_published"]) == (4, 7, 52.5)
    for ref in (str(dongfeng), "东风镇"):
        assert _figures(reports.get("dongfeng", "/api/v1/reports/branches", period="2026Q2", township=ref)) == _figures(own)
    missing = reports.get("dongfeng", "/api/v1/reports/branches", township="999999")
    assert (missing.status_code, missing.json()["code"]) == (404, "township_not_found")
    for ref in (str(xiling), "西岭乡", str(reports.county.branches[(1, 0)])):
        for fmt in ("json", "csv", "xlsx"):
            other = reports.get("dongfeng", "/api/v1/reports/branches", township=ref, format=fmt)
            assert (other.status_code, other.json()) == (404, missing.json()), (ref, fmt)
        other = reports.get("dongfeng", "/api/v1/reports/reminder", township=ref)
        assert (other.status_code, other.json()) == (404, missing.json())
    assert "西岭" not in reports.get("dongfeng", "/api/v1/reports/reminder", format="text").text
    theirs = _figures(reports.get("xiling", "/api/v1/reports/branches", period="2026Q2"))
    assert theirs["scope"]["name"] == "西岭乡" and theirs["totals"]["met"] == 1
    # The county's staff see any township, and the county.
    for who in ("county", "admin"):
        assert _figures(reports.get(who, "/api/v1/reports/branches", township="西岭乡", period="2026Q2")) == theirs


def test_uploaders_are_refused_and_nobody_must_log_in(reports: Reports) -> None:
    for url in ("/api/v1/reports/branches", "/api/v1/reports/reminder"):
        refused = reports.get("uploader", url)
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
        nobody = reports.get(None, url)
        assert nobody.status_code == 401 and nobody.headers["www-authenticate"].startswith("Bearer")
    assert reports.get("uploader", "/reports").status_code == 403
    assert "没有查看报表的权限" in reports.get("uploader", "/reports").text
    to_login = reports.get(None, "/reports", period="2026Q1")
    assert to_login.status_code == 303 and to_login.headers["location"] == "/login?next=" + quote("/reports?period=2026Q1")
    assert reports.get("dongfeng", "/reports", township="西岭乡").status_code == 404


def test_bad_periods_are_422_with_a_chinese_message(reports: Reports) -> None:
    for bad in ("2026Q5", "2026-13", "Q3", "2026Q3;drop", "1999"):
        r = reports.get("county", "/api/v1/reports/branches", period=bad)
        assert r.status_code == 422 and r.json()["code"] == "invalid_period", bad
        assert "2026Q3" in r.json()["message"] and "季度" in r.json()["message"]
    assert reports.get("county", "/api/v1/reports/branches", format="pdf").status_code == 422
    assert reports.get("county", "/reports", period="2026Q9").status_code == 422


def test_the_csv_opens_in_excel_with_chinese_headers(reports: Reports) -> None:
    r = reports.get("county", "/api/v1/reports/branches", period="2026Q1", format="csv")
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.content.startswith(b"\xef\xbb\xbf")
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;") and 'filename="report-' in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "支部报表-2026Q1.csv"
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == HEADERS and len(rows) == 1 + 31
    by_branch = {row[0]: row for row in rows[1:]}
    assert by_branch[branch_name(0, 2)] == [branch_name(0, 2), "东风镇", "2", "2", "0", "0", "15.0", "2026-03-03", "是"]
    assert by_branch[branch_name(0, 5)] == [branch_name(0, 5), "东风镇", "1", "1", "0", "0", "10.0", "", "是"]
    assert by_branch[branch_name(0, 4)][5:] == ["1", "0.0", "", "否"]
    assert by_branch[LOOSE_BRANCH][1] == "未划分乡镇"
    one = reports.get("dongfeng", "/api/v1/reports/branches", period="2026Q1", format="csv")
    assert unquote(one.headers["content-disposition"].split("filename*=UTF-8''")[1]) == "支部报表-东风镇-2026Q1.csv"
    assert len(one.content.decode("utf-8-sig").splitlines()) == 11


def test_the_xlsx_reads_back_with_headers_widths_and_totals(reports: Reports) -> None:
    r = reports.get("county", "/api/v1/reports/branches", period="2026Q2", format="xlsx")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert unquote(r.headers["content-disposition"].split("filename*=UTF-8''")[1]) == "支部报表-2026Q2.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["支部", "乡镇", "本期无上传"]
    sheet = book["支部"]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADERS and len(rows) == 1 + 31 + 1
    assert sheet.freeze_panes == "A2" and sheet["A1"].font.bold
    assert all((sheet.column_dimensions[c].width or 0) >= 6 for c in "ABCDEFGHI")
    assert sheet.column_dimensions["A"].width > sheet.column_dimensions["C"].width  # names are wider than counts
    first = rows[1]
    assert first == (branch_name(0, 0), "东风镇", 1, 1, 0, 0, 15.0, "2026-06-25", "是")
    totals = rows[-1]
    assert totals == ("合计", "31 个支部", 7 + 3 + 10, 4 + 2 + 10, 1, 1 + 1, 52.5 + 10 + 90, "2026-06-25", "15/31")
    assert sum(row[2] for row in rows[1:-1]) == totals[2]  # type: ignore[misc]
    townships = list(book["乡镇"].iter_rows(values_only=True))
    assert townships[0][:4] == ("乡镇", "支部数", "达标支部", "达标率")
    assert [row[:4] for row in townships[1:]] == [("东风镇", 10, 4, 0.4), ("西岭乡", 10, 1, 0.1),
                                                  ("南湖镇", 10, 10, 1.0), ("未划分乡镇", 1, 0, 0.0),
                                                  ("合计", 31, 15, round(15 / 31, 4))]
    assert book["乡镇"]["D2"].number_format == "0.0%"
    idle = [row[0] for row in book["本期无上传"].iter_rows(min_row=2, values_only=True)]
    assert idle == [branch_name(0, b) for b in (4, 5, 9)] + [branch_name(1, b) for b in range(2, 10)] + [LOOSE_BRANCH]


def _upload_now(reports: Reports, branch: tuple[int, int], days_ago: float = 0) -> None:
    """A lesson uploaded now (or a little earlier this month), to count as this month's."""
    when = utcnow() - timedelta(days=days_ago)
    with unit_of_work(context_for(reports.settings).engine) as s:
        digest = secrets.token_hex(32)  # two calls can fall in one millisecond: no clock-made hashes
        s.add(Lesson(title="本月的课", branch_id=reports.county.branches[branch], original_key=f"originals/{digest}",
                     original_sha256=digest, created_at=when, status="ready", review_state="awaiting_review"))


def test_the_weekly_reminder_lists_this_months_idle_branches(reports: Reports) -> None:
    _upload_now(reports, (0, 2))
    _upload_now(reports, (1, 3))
    r = reports.get("county", "/api/v1/reports/reminder")
    assert r.status_code == 200
    body = r.json()
    today = county_today()
    assert body["month"] == f"{today.year}-{today.month:02d}" and body["as_of"] == today.isoformat()
    by_name = {t["name"]: t for t in body["townships"]}
    assert by_name["东风镇"]["idle"] == [branch_name(0, b) for b in range(10) if b != 2]
    assert by_name["西岭乡"]["idle"] == [branch_name(1, b) for b in range(10) if b != 3]
    text = by_name["东风镇"]["text"]
    lines = text.splitlines()
    assert lines[0] == f"【东风镇】截至{today.month}月{today.day}日，本月尚未上传微党课的支部（9个）："
    assert lines[1:10] == by_name["东风镇"]["idle"] and lines[-1] == "请各支部抓紧安排，按时上传。谢谢！"
    plain = reports.get("dongfeng", "/api/v1/reports/reminder", format="text")
    assert plain.headers["content-type"].startswith("text/plain") and plain.text == text + "\n"
    page = reports.get("dongfeng", "/reports/reminder")
    assert page.status_code == 200 and branch_name(0, 0) in page.text and "西岭" not in page.text
    assert "本月尚未上传微党课的支部（9个）" in page.text  # in the text box to copy

    from tests.support.stacks import settings_env

    env = {**os.environ, **settings_env(reports.settings), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    out = subprocess.run([sys.executable, "-m", "api.cli", "reports", "remind", "--township", "东风镇"], env=env,
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == plain.text
    unknown = subprocess.run([sys.executable, "-m", "api.cli", "reports", "remind", "--township", "北山镇"], env=env,
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2 and "找不到这个乡镇" in unknown.stderr


def test_the_reports_page_has_the_table_chart_and_downloads(reports: Reports) -> None:
    r = reports.get("county", "/reports", period="2026Q1")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    html = r.text
    assert 'id="share-chart"' in html and html.count('class="bar"') == 4
    assert 'data-share="0.5"' in html and 'width="50.0%"' in html
    assert 'href="/api/v1/reports/branches?period=2026Q1&amp;format=xlsx"' in html
    assert 'href="/api/v1/reports/branches?period=2026Q1&amp;format=csv"' in html
    assert html.count("data-branch-id=") == 31 and 'id="township-table"' in html
    own = reports.get("dongfeng", "/reports", period="2026Q1")
    assert own.status_code == 200 and own.text.count("data-branch-id=") == 10
    assert f"township={reports.county.townships[0]}" in own.text and "西岭" not in own.text
    assert 'id="nav-reports"' in own.text and 'id="nav-reports"' not in reports.get("uploader", "/").text


def test_a_name_that_looks_like_a_formula_stays_text(reports: Reports) -> None:
    """A branch named by an upload's form (or a careless import) must not become a spreadsheet formula."""
    from catalog.organisations import OrgRow, import_organisations

    with unit_of_work(context_for(reports.settings).engine) as s:
        import_organisations(s, [OrgRow(township="东风镇", branch='=HYPERLINK("http://x.example","点我")',
                                        branch_type=None)])
    csv_text = reports.get("county", "/api/v1/reports/branches", format="csv").content.decode("utf-8-sig")
    assert "\n\"'=HYPERLINK(" in csv_text
    book = openpyxl.load_workbook(io.BytesIO(reports.get("county", "/api/v1/reports/branches", format="xlsx").content))
    cell = next(c for (c,) in book["支部"].iter_rows(min_col=1, max_col=1) if str(c.value).startswith("=HYPER"))
    assert cell.data_type == "s"
