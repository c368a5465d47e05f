"""The organisers' pages: 支部报表 (a period's table per branch and township, a bar chart of the share of branches
that met the quarter's requirement, the branches with nothing, 七一 coverage, downloads) and 每周提醒 (per township,
the branches with no upload this month, and the message for the WeChat group). Server-rendered with GET forms and
inline SVG: readable without JavaScript, on a 360 px phone first.

Who sees what is decided as in the API (api/routes/reports.py): nobody logged in goes to the login page, an
uploader gets a page saying the reports are not theirs (403), another township's report is the page of a township
that does not exist (404).
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import Caller
from api.deps import FormCallerDep, SessionDep, SettingsDep
from api.report_files import reminder_texts, requirement_heading
from api.routes.pages import page
from api.routes.reports import report_period, report_township
from catalog.errors import CatalogError, Forbidden, InvalidReportPeriod
from catalog.lifecycle import may_see_reports
from catalog.periods import recent_periods
from catalog.ratings import ranking
from catalog.reports import branch_report, list_townships, upload_reminder

router = APIRouter(include_in_schema=False)

RANKING_SIZE = 10  # 十佳


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def _refusal(request: Request, caller: Caller, exc: CatalogError) -> HTMLResponse:
    if isinstance(exc, Forbidden):
        heading, text, status = ("没有查看报表的权限", "支部报表只对乡镇组织员、县里的审核员和管理员开放。", 403)
    elif isinstance(exc, InvalidReportPeriod):
        heading, text, status = "报表期间有误", exc.message, 422
    else:
        heading, text, status = "找不到这个乡镇", "这个乡镇不存在，或者不在你负责的范围内。", 404
    return page(request, caller, "message.html", {"page": "reports", "heading": heading, "text": text},
                status_code=status)


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, session: SessionDep, settings: SettingsDep, caller: FormCallerDep) -> Response:
    """A period's report (`?period=2026Q3`, default this quarter) for the county or a township (`?township=`)."""
    if caller.account is None:
        return _to_login(request)
    params = request.query_params
    try:
        township_id = report_township(session, caller.viewer, (params.get("township") or "")[:100])
        period = report_period((params.get("period") or "")[:20])
    except CatalogError as exc:
        return _refusal(request, caller, exc)
    report = branch_report(session, period=period, township_id=township_id)
    query = {"period": period.name, **({"township": str(township_id)} if township_id is not None else {})}
    periods = recent_periods()
    if period not in periods:
        periods.insert(0, period)
    county_wide = may_see_reports(caller.viewer, None)
    return page(request, caller, "reports.html", {
        "page": "reports", "report": report, "periods": periods, "county_wide": county_wide,
        "townships": list_townships(session) if county_wide else [], "township_id": township_id,
        "requirement_heading": requirement_heading(report),
        "downloads": {kind: f"/api/v1/reports/branches?{urlencode({**query, 'format': kind})}"
                      for kind in ("xlsx", "csv")},
        "reminder_url": "/reports/reminder" + (f"?township={township_id}" if township_id is not None else ""),
        "ranking": ranking(session, period=period, township_id=township_id, limit=RANKING_SIZE)
        if settings.ratings_enabled else None})


@router.get("/reports/reminder", response_class=HTMLResponse)
def reminder_page(request: Request, session: SessionDep, caller: FormCallerDep) -> Response:
    """每周提醒: per township, the branches with no upload this month so far, and the message to paste."""
    if caller.account is None:
        return _to_login(request)
    try:
        township_id = report_township(session, caller.viewer, (request.query_params.get("township") or "")[:100])
    except CatalogError as exc:
        return _refusal(request, caller, exc)
    reminder = upload_reminder(session, township_id=township_id)
    texts = reminder_texts(reminder)
    county_wide = may_see_reports(caller.viewer, None)
    return page(request, caller, "reminder.html", {
        "page": "reports", "reminder": reminder, "items": list(zip(reminder.townships, texts, strict=True)),
        "townships": list_townships(session) if county_wide else [], "township_id": township_id,
        "text_url": "/api/v1/reports/reminder?" + urlencode(
            {"format": "text", **({"township": str(township_id)} if township_id is not None else {})}),
        "report_url": "/reports" + (f"?township={township_id}" if township_id is not None else "")})
