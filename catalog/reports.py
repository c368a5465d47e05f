"""The organisers' reports (每周一提醒、每月一汇总、每季度一通报): what each branch uploaded and got published in a
period, whether it met the quarter's requirement, and which branches have nothing yet.

Definitions (the README's "Organisers' reports" says the same):

- **Period** (catalog/periods.py): a month (`2026-07`), a quarter (`2026Q3`) or a year (`2026`), in the county's
  time (UTC+8): from its first day's midnight to the next period's.
- **A lesson belongs to the period it was uploaded in** (`Lesson.created_at`; a revised file stays the same
  lesson). Every count of a branch row is over those lessons, as they stand now:
  - `uploaded`: all of them, whatever their state (processing, failed and withdrawn ones included);
  - `published`: those published now; `rejected`: rejected now; `waiting`: awaiting review or sent back for
    revision now. (Withdrawn, still processing and failed lessons count only in `uploaded`.)
  - `minutes_published`: the published ones' length, in minutes (one decimal).
  So the counts of one branch add up within one period, a lesson counts in one month, one quarter and one
  year only, and a lesson uploaded at the end of a quarter counts for that quarter once the county publishes it,
  however long review took.
- `last_published_on`: the county date of the branch's latest publication (`Lesson.published_at`) among its
  lessons published now, before the period's end, whenever they were uploaded.
- **The quarter's requirement** (每季度至少安排1次党课): at least one lesson uploaded in the quarter and published
  now. For a quarter that quarter; for a month its quarter from the quarter's first day to the month's end; for
  a year every quarter of it that has begun (a year none of whose quarters has begun meets nothing).
- **Idle branches**: those with no lesson uploaded in the period.
- **Themed lessons** (七一 around 1 July): published now, and either recorded (`recorded_on`) from 15 June to
  15 July of the period's year, both days included, or tagged 七一 and dated in that year (recorded then or,
  without a recording date, uploaded then).
- **Scope**: the county (every branch; branches not yet placed under a township are listed without one) or one
  township's branches. Lessons without a branch (the county's own) are in no report.
- The weekly reminder: per township, the branches with no lesson uploaded in the current month so far.

Figures come from a handful of GROUP BY queries whatever the number of branches (a county has ~300): the
branches, the period's counts, the latest publications, one per quarter of the requirement, and the themed ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_
from sqlalchemy import select as select_columns
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from catalog.broadcast import county_today
from catalog.errors import TownshipNotFound
from catalog.models import Lesson, LessonTag, Organisation, OrgKind, ReviewState, Tag
from catalog.packs import COUNTY_TZ
from catalog.periods import Period, PeriodKind, county_midnight

THEMED_TAG = "七一"  # the tag (normalised as catalog/tags.py stores it) of lessons for the Party's birthday
THEMED_WINDOW = ((6, 15), (7, 15))  # (month, day) to (month, day), both included
WAITING_STATES = (ReviewState.AWAITING_REVIEW, ReviewState.REVISION_REQUESTED)


@dataclass(frozen=True)
class ThemedWindow:
    """The dates of a themed lesson (both included), and its tag."""

    start: date
    end: date
    tag: str = THEMED_TAG


def july_first_window(year: int) -> ThemedWindow:
    (m1, d1), (m2, d2) = THEMED_WINDOW
    return ThemedWindow(date(year, m1, d1), date(year, m2, d2))


@dataclass(frozen=True)
class BranchFigures:
    branch_id: int
    branch: str
    township_id: int | None
    township: str | None
    uploaded: int = 0
    published: int = 0
    rejected: int = 0
    waiting: int = 0
    minutes_published: float = 0.0
    last_published_on: date | None = None
    requirement_met: bool = False
    themed_lessons: int = 0


@dataclass(frozen=True)
class GroupFigures:
    """A township's figures (or, with no township, the scope's totals)."""

    township_id: int | None
    name: str | None
    branches: int
    met: int
    uploaded: int
    published: int
    rejected: int
    waiting: int
    minutes_published: float

    @property
    def share_met(self) -> float:
        return round(self.met / self.branches, 4) if self.branches else 0.0


@dataclass(frozen=True)
class ThemedCoverage:
    window: ThemedWindow
    lessons: int
    branches: list[BranchFigures]  # those with at least one themed lesson
    branches_total: int

    @property
    def share_covered(self) -> float:
        return round(len(self.branches) / self.branches_total, 4) if self.branches_total else 0.0


@dataclass(frozen=True)
class Scope:
    township_id: int | None  # None: the county
    name: str | None  # the township's


@dataclass(frozen=True)
class BranchReport:
    period: Period
    scope: Scope
    as_of: datetime  # when the figures were read
    requirement_windows: list[tuple[datetime, datetime]]
    branches: list[BranchFigures]
    townships: list[GroupFigures]
    totals: GroupFigures
    themed: ThemedCoverage

    @property
    def idle_branches(self) -> list[BranchFigures]:
        return [b for b in self.branches if b.uploaded == 0]


def township_scope(session: Session, township_id: int | None) -> Scope:
    """The county (None) or an existing township; TownshipNotFound otherwise."""
    if township_id is None:
        return Scope(None, None)
    org = session.get(Organisation, township_id)
    if org is None or org.kind != OrgKind.TOWNSHIP or org.id is None:
        raise TownshipNotFound(f"township {township_id}")
    return Scope(org.id, org.name)


def find_township(session: Session, ref: str) -> Organisation | None:
    """A township by id or by name."""
    ref = " ".join((ref or "").split())
    if not ref:
        return None
    if ref.isascii() and ref.isdigit() and len(ref) < 10:
        org = session.get(Organisation, int(ref))
        return org if org is not None and org.kind == OrgKind.TOWNSHIP else None
    return session.exec(select(Organisation).where(Organisation.name == ref,
                                                   Organisation.kind == OrgKind.TOWNSHIP)).first()


def list_townships(session: Session) -> list[Organisation]:
    return list(session.exec(select(Organisation).where(Organisation.kind == OrgKind.TOWNSHIP)
                             .order_by(col(Organisation.id))).all())


@dataclass(frozen=True)
class _Branch:
    id: int
    name: str
    township_id: int | None
    township: str | None


def _branches(session: Session, township_id: int | None) -> list[_Branch]:
    """The scope's branches with their townships, townships in the order they were made (the county's own list),
    branches not under a township last."""
    township = aliased(Organisation)
    stmt = (select(Organisation.id, Organisation.name, township.id, township.name).select_from(Organisation)
            .outerjoin(township, and_(col(township.id) == col(Organisation.parent_id),
                                      col(township.kind) == OrgKind.TOWNSHIP))
            .where(Organisation.kind == OrgKind.BRANCH))
    if township_id is not None:
        stmt = stmt.where(Organisation.parent_id == township_id)
    rows = session.exec(stmt.order_by(col(township.id).is_(None), col(township.id), col(Organisation.id))).all()
    return [_Branch(int(bid), name, tid, tname) for bid, name, tid, tname in rows if bid is not None]


def _between(column: Any, start: datetime, end: datetime) -> Any:
    return and_(column >= start.astimezone(UTC), column < end.astimezone(UTC))


def _in_scope(township_id: int | None) -> Any:
    if township_id is None:
        return col(Lesson.branch_id).is_not(None)
    return col(Lesson.branch_id).in_(select(Organisation.id).where(Organisation.kind == OrgKind.BRANCH,
                                                                   Organisation.parent_id == township_id))


def _published() -> Any:
    return col(Lesson.review_state) == ReviewState.PUBLISHED


def _counts(session: Session, period: Period, scope: Any) -> dict[int, tuple[int, int, int, int, float]]:
    published, one = _published(), 1
    stmt = (select_columns(col(Lesson.branch_id), func.count(),
                           func.sum(case((published, one), else_=0)),
                           func.sum(case((col(Lesson.review_state) == ReviewState.REJECTED, one), else_=0)),
                           func.sum(case((col(Lesson.review_state).in_(WAITING_STATES), one), else_=0)),
                           func.sum(case((published, func.coalesce(col(Lesson.duration_s), 0.0)), else_=0.0)))
            .where(scope, _between(col(Lesson.created_at), period.start, period.end))
            .group_by(col(Lesson.branch_id)))
    return {int(bid): (int(n), int(p or 0), int(r or 0), int(w or 0), float(s or 0.0))
            for bid, n, p, r, w, s in session.execute(stmt).all() if bid is not None}


def _last_published(session: Session, before: datetime, scope: Any) -> dict[int, date]:
    stmt = (select(col(Lesson.branch_id), func.max(col(Lesson.published_at)))
            .where(scope, _published(), col(Lesson.published_at) < before.astimezone(UTC))
            .group_by(col(Lesson.branch_id)))
    return {int(bid): _county_date(at) for bid, at in session.exec(stmt).all() if bid is not None and at is not None}


def _county_date(at: datetime) -> date:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(COUNTY_TZ).date()


def _met_in(session: Session, window: tuple[datetime, datetime], scope: Any) -> set[int]:
    stmt = (select(col(Lesson.branch_id)).where(scope, _published(), _between(col(Lesson.created_at), *window))
            .distinct())
    return {int(bid) for bid in session.exec(stmt).all() if bid is not None}


def _themed(session: Session, window: ThemedWindow, scope: Any) -> dict[int, int]:
    year = window.start.year
    tagged = col(Lesson.id).in_(select(LessonTag.lesson_id).join(Tag, col(Tag.id) == col(LessonTag.tag_id))
                                .where(Tag.name == window.tag))
    recorded = col(Lesson.recorded_on)
    dated_in_year = or_(and_(recorded >= date(year, 1, 1), recorded <= date(year, 12, 31)),
                        and_(recorded.is_(None), _between(col(Lesson.created_at), county_midnight(date(year, 1, 1)),
                                                          county_midnight(date(year + 1, 1, 1)))))
    themed = or_(and_(recorded >= window.start, recorded <= window.end), and_(tagged, dated_in_year))
    stmt = (select(col(Lesson.branch_id), func.count()).where(scope, _published(), themed)
            .group_by(col(Lesson.branch_id)))
    return {int(bid): int(n) for bid, n in session.exec(stmt).all() if bid is not None}


def _group(township_id: int | None, name: str | None, rows: list[BranchFigures]) -> GroupFigures:
    return GroupFigures(township_id=township_id, name=name, branches=len(rows),
                        met=sum(r.requirement_met for r in rows), uploaded=sum(r.uploaded for r in rows),
                        published=sum(r.published for r in rows), rejected=sum(r.rejected for r in rows),
                        waiting=sum(r.waiting for r in rows),
                        minutes_published=round(sum(r.minutes_published for r in rows), 1))


def branch_report(session: Session, *, period: Period, township_id: int | None = None,
                  now: datetime | None = None, themed: ThemedWindow | None = None) -> BranchReport:
    """The figures of every branch in the scope (the county, or one township) for the period; see the module's
    docstring for what each one means. TownshipNotFound for a township that does not exist."""
    now = now or datetime.now(UTC)
    scope = township_scope(session, township_id)
    themed = themed or july_first_window(period.year)
    in_scope = _in_scope(scope.township_id)
    branches = _branches(session, scope.township_id)
    counts = _counts(session, period, in_scope)
    last = _last_published(session, period.end, in_scope)
    windows = period.requirement_windows(now)
    met_sets = [_met_in(session, window, in_scope) for window in windows]
    themed_counts = _themed(session, themed, in_scope)
    rows = []
    for b in branches:
        uploaded, published, rejected, waiting, seconds = counts.get(b.id, (0, 0, 0, 0, 0.0))
        rows.append(BranchFigures(
            branch_id=b.id, branch=b.name, township_id=b.township_id, township=b.township, uploaded=uploaded,
            published=published, rejected=rejected, waiting=waiting, minutes_published=round(seconds / 60, 1),
            last_published_on=last.get(b.id), requirement_met=bool(met_sets) and all(b.id in s for s in met_sets),
            themed_lessons=themed_counts.get(b.id, 0)))
    groups: dict[int | None, list[BranchFigures]] = {}
    for row in rows:
        groups.setdefault(row.township_id, []).append(row)
    townships = [_group(tid, members[0].township, members) for tid, members in groups.items()]
    covered = [r for r in rows if r.themed_lessons]
    return BranchReport(
        period=period, scope=scope, as_of=now, requirement_windows=windows, branches=rows, townships=townships,
        totals=_group(scope.township_id, scope.name, rows),
        themed=ThemedCoverage(window=themed, lessons=sum(r.themed_lessons for r in rows), branches=covered,
                              branches_total=len(rows)))


# --- the weekly reminder ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TownshipReminder:
    township_id: int | None  # None: branches not yet placed under a township
    name: str | None
    branches_total: int
    idle: list[str]  # the names of the branches with no upload this month, in the county's order


@dataclass(frozen=True)
class Reminder:
    month: Period
    as_of: date  # the county's today
    townships: list[TownshipReminder]


def upload_reminder(session: Session, *, township_id: int | None = None, today: date | None = None) -> Reminder:
    """Per township in the scope, the branches with no lesson uploaded from the first of the current month (county
    time) up to now: what the weekly reminder names. TownshipNotFound for a township that does not exist."""
    today = today or county_today()
    scope = township_scope(session, township_id)
    month = Period(PeriodKind.MONTH, today.year, today.month)
    until = county_midnight(today + timedelta(days=1))
    branches = _branches(session, scope.township_id)
    active = {int(bid) for bid in session.exec(
        select(col(Lesson.branch_id)).where(_in_scope(scope.township_id),
                                            _between(col(Lesson.created_at), month.start, until)).distinct()).all()
        if bid is not None}
    groups: dict[int | None, list[_Branch]] = {}
    for b in branches:
        groups.setdefault(b.township_id, []).append(b)
    if scope.township_id is not None and not groups:
        groups[scope.township_id] = []
    return Reminder(month=month, as_of=today, townships=[
        TownshipReminder(township_id=tid, name=members[0].township if members else scope.name,
                         branches_total=len(members), idle=[b.name for b in members if b.id not in active])
        for tid, members in groups.items()])
