"""The organisers' reports through the API: a period's figures per branch and township as JSON, CSV or XLSX, and the
weekly reminder as JSON or plain text. The pages are in api/routes/report_pages.py; the figures' meaning in
catalog/reports.py.

Who: the county's reviewers and administrators (the county, or any township with `township=`), a township's
organisers (their own township, which is also what they get without `township=`). Uploaders are refused (403);
another township, like one that does not exist, is 404 township_not_found; no account is 401.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response
from sqlmodel import Session

from api.deps import CurrentUser, SessionDep
from api.report_files import (
    CSV_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    attachment,
    reminder_text,
    reminder_texts,
    report_csv,
    report_filename,
    report_xlsx,
)
from api.report_schemas import BranchReportPublic, ReminderPublic, branch_report_public, reminder_public
from api.schemas import ErrorPublic
from catalog.errors import Forbidden, TownshipNotFound
from catalog.lifecycle import Viewer, default_report_scope, may_read_reports, may_see_reports
from catalog.periods import Period, current_quarter, parse_period
from catalog.reports import branch_report, find_township, upload_reminder

router = APIRouter(prefix="/api/v1", tags=["reports"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}, 404: {"model": ErrorPublic},
    422: {"model": ErrorPublic}}  # fmt: skip
PeriodParam = Annotated[str | None, Query(max_length=20, description='"2026Q3", "2026-07" or "2026"; '
                                                                     "default: the current quarter")]
TownshipParam = Annotated[str | None, Query(max_length=100, description="a township's id or name; default: the "
                                                                        "county (an organiser: their township)")]


def report_township(session: Session, viewer: Viewer, township: str | None) -> int | None:
    """The township a report is about (None: the county): Forbidden for those who read no reports,
    TownshipNotFound for a township that does not exist or is not the caller's to see."""
    if not may_read_reports(viewer):
        raise Forbidden(f"{viewer.username} ({viewer.role}) reads no reports")
    if township is None or not township.strip():
        return default_report_scope(viewer)
    org = find_township(session, township)
    if org is None or org.id is None or not may_see_reports(viewer, org.id):
        raise TownshipNotFound(f"township {township!r} for {viewer.username}")
    return org.id


def report_period(period: str | None) -> Period:
    return parse_period(period) if period and period.strip() else current_quarter()


def _download(content: bytes, media_type: str, filename: str) -> Response:
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": attachment(filename), "Cache-Control": "private, no-store"})


@router.get("/reports/branches", response_model=BranchReportPublic, responses={
    200: {"content": {"text/csv": {}, XLSX_MEDIA_TYPE: {}},
          "description": "JSON; with format=csv a UTF-8 CSV with a BOM; with format=xlsx a workbook"},
    **ERRORS})
def branches_report(session: SessionDep, viewer: CurrentUser, period: PeriodParam = None,
                    township: TownshipParam = None,
                    format: Literal["json", "csv", "xlsx"] = "json") -> BranchReportPublic | Response:
    """Per branch: lessons uploaded in the period and, of those, published, rejected and waiting now; minutes
    published; the latest publication; whether the quarter's requirement is met. Per township: the sums and the
    share of branches that met it. The branches with nothing in the period; 七一 themed lessons."""
    scope = report_township(session, viewer, township)
    report = branch_report(session, period=report_period(period), township_id=scope)
    if format == "csv":
        return _download(report_csv(report), CSV_MEDIA_TYPE, report_filename(report, "csv"))
    if format == "xlsx":
        return _download(report_xlsx(report), XLSX_MEDIA_TYPE, report_filename(report, "xlsx"))
    return branch_report_public(report)


@router.get("/reports/reminder", response_model=ReminderPublic, responses={
    200: {"content": {"text/plain": {}}, "description": "JSON; with format=text the messages as plain text"},
    **ERRORS})
def reminder(session: SessionDep, viewer: CurrentUser, township: TownshipParam = None,
             format: Literal["json", "text"] = "json") -> ReminderPublic | Response:
    """The weekly reminder: per township, the branches with no lesson uploaded this month (county time) so far,
    and a message for each township's WeChat group."""
    found = upload_reminder(session, township_id=report_township(session, viewer, township))
    text = reminder_text(found)
    if format == "text":
        return PlainTextResponse(text, headers={"Cache-Control": "private, no-store"})
    return reminder_public(found, reminder_texts(found), text)
