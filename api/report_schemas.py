"""Response schemas of the organisers' reports and the star ratings (api/routes/reports.py, api/routes/ratings.py),
and their building from catalog/reports.py's figures. What each figure means is in catalog/reports.py's docstring.
Extend, never rename."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import BaseModel, Field

from api.schemas import RequestBody
from catalog.periods import Period
from catalog.ratings import RankedLesson, RatingSummary
from catalog.reports import BranchFigures, BranchReport, GroupFigures, Reminder


class PeriodPublic(BaseModel):
    name: str = Field(description='"2026Q3", "2026-07" or "2026"')
    kind: str = Field(description="quarter, month or year")
    start: date = Field(description="the first day (county time, UTC+8)")
    end: date = Field(description="the last day, included")


class ScopePublic(BaseModel):
    township_id: int | None = Field(description="null: the whole county")
    name: str | None


class WindowPublic(BaseModel):
    start: date
    end: date = Field(description="the last day, included")


class BranchRowPublic(BaseModel):
    branch_id: int
    branch: str
    township_id: int | None
    township: str | None = Field(description="null: a branch not yet placed under a township")
    uploaded: int
    published: int
    rejected: int
    waiting: int
    minutes_published: float
    last_published_on: date | None
    requirement_met: bool


class TownshipRowPublic(BaseModel):
    township_id: int | None
    name: str | None
    branches: int
    met: int
    share_met: float = Field(description="met / branches, 0 to 1")
    uploaded: int
    published: int
    rejected: int
    waiting: int
    minutes_published: float


class IdleBranchPublic(BaseModel):
    branch_id: int
    branch: str
    township: str | None


class ThemedBranchPublic(IdleBranchPublic):
    lessons: int


class ThemedWindowPublic(WindowPublic):
    tag: str


class ThemedPublic(BaseModel):
    window: ThemedWindowPublic
    lessons: int
    branches_covered: int
    branches_total: int
    share_covered: float
    branches: list[ThemedBranchPublic]


class BranchReportPublic(BaseModel):
    period: PeriodPublic
    scope: ScopePublic
    as_of: datetime
    requirement: list[WindowPublic] = Field(description="the quarters (so far) the requirement is checked in")
    branches: list[BranchRowPublic]
    townships: list[TownshipRowPublic]
    totals: TownshipRowPublic
    idle_branches: list[IdleBranchPublic] = Field(description="branches with no lesson uploaded in the period")
    themed: ThemedPublic


class TownshipReminderPublic(BaseModel):
    township_id: int | None
    name: str | None
    branches_total: int
    idle: list[str] = Field(description="branches with no upload this month so far")
    text: str = Field(description="ready to paste into the township's WeChat group")


class ReminderPublic(BaseModel):
    month: str
    as_of: date
    townships: list[TownshipReminderPublic]
    text: str


class RatingIn(RequestBody):
    stars: int = Field(ge=1, le=5)


class RatingPublic(BaseModel):
    average: float | None = Field(description="null: no ratings yet")
    count: int
    mine: int | None = Field(default=None, description="the caller's own stars")


class RankedLessonPublic(BaseModel):
    rank: int
    lesson_id: str
    title: str
    branch: str | None
    average: float
    count: int
    url: str


class RankingPublic(BaseModel):
    period: PeriodPublic
    township_id: int | None
    items: list[RankedLessonPublic]


def period_public(period: Period) -> PeriodPublic:
    return PeriodPublic(name=period.name, kind=period.kind, start=period.first_day, end=period.last_day)


def _branch(row: BranchFigures) -> BranchRowPublic:
    return BranchRowPublic(branch_id=row.branch_id, branch=row.branch, township_id=row.township_id,
                           township=row.township, uploaded=row.uploaded, published=row.published,
                           rejected=row.rejected, waiting=row.waiting, minutes_published=row.minutes_published,
                           last_published_on=row.last_published_on, requirement_met=row.requirement_met)


def _group(group: GroupFigures) -> TownshipRowPublic:
    return TownshipRowPublic(township_id=group.township_id, name=group.name, branches=group.branches, met=group.met,
                             share_met=group.share_met, uploaded=group.uploaded, published=group.published,
                             rejected=group.rejected, waiting=group.waiting,
                             minutes_published=group.minutes_published)


def branch_report_public(report: BranchReport) -> BranchReportPublic:
    themed = report.themed
    return BranchReportPublic(
        period=period_public(report.period),
        scope=ScopePublic(township_id=report.scope.township_id, name=report.scope.name), as_of=report.as_of,
        requirement=[WindowPublic(start=a.date(), end=(b - timedelta(days=1)).date())
                     for a, b in report.requirement_windows],
        branches=[_branch(r) for r in report.branches], townships=[_group(g) for g in report.townships],
        totals=_group(report.totals),
        idle_branches=[IdleBranchPublic(branch_id=r.branch_id, branch=r.branch, township=r.township)
                       for r in report.idle_branches],
        themed=ThemedPublic(
            window=ThemedWindowPublic(start=themed.window.start, end=themed.window.end, tag=themed.window.tag),
            lessons=themed.lessons, branches_covered=len(themed.branches), branches_total=themed.branches_total,
            share_covered=themed.share_covered,
            branches=[ThemedBranchPublic(branch_id=r.branch_id, branch=r.branch, township=r.township,
                                         lessons=r.themed_lessons) for r in themed.branches]))


def reminder_public(reminder: Reminder, texts: list[str], text: str) -> ReminderPublic:
    return ReminderPublic(month=reminder.month.name, as_of=reminder.as_of, text=text, townships=[
        TownshipReminderPublic(township_id=t.township_id, name=t.name, branches_total=t.branches_total,
                               idle=t.idle, text=one) for t, one in zip(reminder.townships, texts, strict=True)])


def rating_public(summary: RatingSummary, mine: int | None) -> RatingPublic:
    return RatingPublic(average=summary.average, count=summary.count, mine=mine)


def ranked_public(item: RankedLesson) -> RankedLessonPublic:
    return RankedLessonPublic(rank=item.rank, lesson_id=item.lesson_id, title=item.title, branch=item.branch,
                              average=item.average, count=item.count, url=f"/lessons/{item.lesson_id}")
