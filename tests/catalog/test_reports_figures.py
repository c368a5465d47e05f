"""The organisers' figures (catalog/reports.py) on a seeded county: 3 townships of 10 branches each, one branch not
yet under a township, and lessons in known states across 2026Q1 and 2026Q2 (with the quarter's boundary crossed in
county time, a withdrawn lesson, one still processing, 七一 lessons by date and by tag, and a tagged one of the
year before). Every figure of every branch and township is checked against the seed, on SQLite and PostgreSQL.

The seed is built directly in the catalog (the organisation tree through the same import as `weike orgs import`,
lessons as rows), so this runs in seconds; tests/api/test_reports.py and tests/web/test_reports_page.py reuse it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import select

from catalog.db import make_engine, unit_of_work
from catalog.errors import InvalidReportPeriod, TownshipNotFound
from catalog.migrate import upgrade
from catalog.models import Lesson, LessonStatus, Organisation, OrgKind
from catalog.organisations import DEFAULT_COUNTY, OrgRow, get_or_create_org, import_organisations
from catalog.packs import COUNTY_TZ
from catalog.periods import parse_period
from catalog.reports import BranchReport, branch_report, upload_reminder
from catalog.tags import set_lesson_tags

TOWNSHIPS = (("东风镇", "东风"), ("西岭乡", "西岭"), ("南湖镇", "南湖"))
NUMERALS = "一二三四五六七八九十"
LOOSE_BRANCH = "县直机关党支部"  # named by an upload before the tree was imported: under the county, no township


def branch_name(t: int, b: int) -> str:
    return f"{TOWNSHIPS[t][1]}{NUMERALS[b]}村党支部"


@dataclass(frozen=True)
class Seeded:
    """One lesson of the seed: where, when (county time), in which state, how long, published when."""

    township: int | None  # index into TOWNSHIPS; None: LOOSE_BRANCH (or no branch at all, with branch None)
    branch: int | None
    uploaded: str  # "2026-03-31 23:30", county time
    state: str | None  # review state now; None: still processing
    minutes: float = 10.0
    published: str | None = None  # the (latest) publication, county time
    recorded_on: date | None = None
    tags: tuple[str, ...] = ()


def _lessons() -> list[Seeded]:
    s: list[Seeded] = []
    # 东风镇: a bit of everything.
    s += [Seeded(0, 0, "2026-01-05 09:00", "published", 10, "2026-01-08 10:00"),
          Seeded(0, 0, "2026-06-22 10:00", "published", 15, "2026-06-25 10:00", recorded_on=date(2026, 6, 20)),
          Seeded(0, 1, "2026-02-10 09:00", "published", 8, "2026-02-12 10:00"),
          Seeded(0, 1, "2026-05-20 09:00", "published", 20, "2026-05-22 10:00", tags=("七一",)),
          Seeded(0, 2, "2026-01-15 09:00", "published", 6, "2026-01-16 10:00"),
          Seeded(0, 2, "2026-03-01 09:00", "published", 9, "2026-03-03 10:00"),
          Seeded(0, 2, "2026-06-01 09:00", "awaiting_review", 11),
          Seeded(0, 3, "2026-01-20 09:00", "rejected", 5),
          Seeded(0, 3, "2026-04-10 09:00", "published", 10, "2026-04-12 10:00"),
          Seeded(0, 4, "2026-03-10 09:00", "revision_requested", 14),
          # The last half hour of Q1 in the county (15:30 UTC): a Q1 lesson, published in Q2.
          Seeded(0, 5, "2026-03-31 23:30", "published", 10, "2026-04-02 10:00"),
          # Ten minutes into Q2 in the county (still 31 March in UTC): a Q2 lesson.
          Seeded(0, 6, "2026-04-01 00:10", "published", 7.5, "2026-04-05 10:00"),
          Seeded(0, 7, "2026-02-01 09:00", "withdrawn", 10, "2026-02-03 10:00"),
          Seeded(0, 7, "2026-06-10 09:00", None, 10),
          Seeded(0, 8, "2026-01-09 09:00", "published", 12, "2026-01-10 10:00"),
          Seeded(0, 8, "2026-05-05 09:00", "rejected", 10)]
    # 西岭乡: everybody in Q1, almost nobody in Q2; a 七一 lesson of the year before.
    s += [Seeded(1, b, f"2026-01-{10 + b:02d} 09:00", "published", 10, f"2026-01-{12 + b:02d} 10:00")
          for b in range(10)]
    s += [Seeded(1, 0, "2026-04-15 09:00", "published", 5, "2026-04-16 10:00"),
          Seeded(1, 0, "2026-04-20 09:00", "published", 5, "2026-04-21 10:00"),
          Seeded(1, 1, "2026-06-03 09:00", "awaiting_review", 12),
          Seeded(1, 0, "2025-06-28 09:00", "published", 10, "2025-07-01 10:00", tags=("七一",))]
    # 南湖镇: nobody in Q1 (one waiting), everybody in Q2; 七一 edges by recording date.
    s += [Seeded(2, 0, "2026-03-20 09:00", "awaiting_review", 10)]
    recorded = {5: date(2026, 6, 14), 6: date(2026, 6, 15)}
    s += [Seeded(2, b, f"2026-05-{1 + b:02d} 09:00", "published", 9, f"2026-05-{2 + b:02d} 10:00",
                 recorded_on=recorded.get(b)) for b in range(10)]
    s += [Seeded(2, 7, "2026-07-16 09:00", "rejected", 10, recorded_on=date(2026, 7, 15)),  # themed date, rejected
          Seeded(2, 8, "2026-07-16 09:00", "published", 10, "2026-07-17 10:00", recorded_on=date(2026, 7, 15))]
    # Outside the townships: a branch under the county, and a lesson of no branch (in no report).
    s += [Seeded(None, 0, "2026-02-20 09:00", "published", 30, "2026-02-21 10:00"),
          Seeded(None, None, "2026-02-20 09:00", "published", 40, "2026-02-21 10:00")]
    return s


SEED = _lessons()


def county_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=COUNTY_TZ)


@dataclass
class County:
    """The seeded county's ids: townships by index, branches by (township, branch) index, the loose branch."""

    townships: dict[int, int] = field(default_factory=dict)
    branches: dict[tuple[int, int], int] = field(default_factory=dict)
    loose: int = 0

    def branch_id(self, lesson: Seeded) -> int | None:
        if lesson.branch is None:
            return None
        return self.loose if lesson.township is None else self.branches[(lesson.township, lesson.branch)]


def seed_county(engine: Any, lessons: list[Seeded] = SEED) -> County:
    county = County()
    with unit_of_work(engine) as s:
        root = get_or_create_org(s, DEFAULT_COUNTY, kind=OrgKind.COUNTY, parent_id=None)
        loose = get_or_create_org(s, LOOSE_BRANCH, kind=OrgKind.BRANCH, parent_id=root.id)
        import_organisations(s, [OrgRow(township=t, branch=branch_name(ti, b), branch_type="村")
                                 for ti, (t, _) in enumerate(TOWNSHIPS) for b in range(10)])
        orgs = {o.name: o.id for o in s.exec(select(Organisation)).all()}
        county.townships = {ti: orgs[t] for ti, (t, _) in enumerate(TOWNSHIPS)}
        county.branches = {(ti, b): orgs[branch_name(ti, b)] for ti in range(3) for b in range(10)}
        county.loose = loose.id or 0
        for n, spec in enumerate(lessons):
            sha = hashlib.sha256(f"seed {n}".encode()).hexdigest()
            lesson = Lesson(title=f"第{n}课", branch_id=county.branch_id(spec), original_key=f"originals/{sha}",
                            original_sha256=sha, size_bytes=1, duration_s=spec.minutes * 60,
                            status=LessonStatus.PROCESSING if spec.state is None else LessonStatus.READY,
                            review_state=spec.state, recorded_on=spec.recorded_on,
                            created_at=county_time(spec.uploaded).astimezone(UTC),
                            published_at=county_time(spec.published).astimezone(UTC) if spec.published else None)
            s.add(lesson)
            s.flush()
            if spec.tags:
                set_lesson_tags(s, lesson.id, list(spec.tags))
    return county


# --- what the seed says, worked out in plain Python ------------------------------------------------------------


def expected_branch(county: County, key: tuple[int | None, int], period: str, *, now: datetime) -> dict[str, Any]:
    p = parse_period(period)
    mine = [s for s in SEED if s.branch is not None and (s.township, s.branch) == key]
    inside = [s for s in mine if p.start <= county_time(s.uploaded) < p.end]
    published = [s for s in inside if s.state == "published"]
    before_end = [county_time(s.published) for s in mine
                  if s.state == "published" and s.published and county_time(s.published) < p.end]
    windows = p.requirement_windows(now)
    met = bool(windows) and all(any(s.state == "published" and a <= county_time(s.uploaded) < b for s in mine)
                                for a, b in windows)
    return {"uploaded": len(inside), "published": len(published),
            "rejected": sum(s.state == "rejected" for s in inside),
            "waiting": sum(s.state in ("awaiting_review", "revision_requested") for s in inside),
            "minutes_published": round(sum(s.minutes for s in published), 1),
            "last_published_on": max(before_end).date() if before_end else None, "requirement_met": met}


KEYS: list[tuple[int | None, int]] = [(t, b) for t in range(3) for b in range(10)] + [(None, 0)]
NOW = datetime(2026, 7, 20, tzinfo=UTC)  # in Q3: Q1 and Q2 are over


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Any]:
    url = f"sqlite:///{tmp_path / 'r.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue(
        "pg_database_url")
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _report(engine: Any, period: str, township: int | None = None, now: datetime = NOW) -> BranchReport:
    with unit_of_work(engine) as s:
        return branch_report(s, period=parse_period(period), township_id=township, now=now)


def test_every_branch_figure_matches_the_seed_in_both_quarters_and_a_month(engine: Any) -> None:
    county = seed_county(engine)
    ids = {county.loose if t is None else county.branches[(t, b)]: (t, b) for t, b in KEYS}
    for period in ("2026Q1", "2026Q2", "2026-03", "2026-05"):
        report = _report(engine, period)
        assert [r.branch_id for r in report.branches] == [
            county.loose if t is None else county.branches[(t, b)] for t, b in KEYS], "townships' order, loose last"
        for row in report.branches:
            got = {k: getattr(row, k) for k in ("uploaded", "published", "rejected", "waiting", "minutes_published",
                                                "last_published_on", "requirement_met")}
            assert got == expected_branch(county, ids[row.branch_id], period, now=NOW), (period, row.branch)
        assert [b.branch_id for b in report.idle_branches] == [r.branch_id for r in report.branches if r.uploaded == 0]


def test_township_totals_and_shares_are_the_seeds(engine: Any) -> None:
    seed_county(engine)
    q1, q2 = _report(engine, "2026Q1"), _report(engine, "2026Q2")
    by_name = {t.name: t for t in q1.townships}
    # Worked out by hand from the seed.
    assert [(t.name, t.branches, t.met, t.share_met) for t in q1.townships] == [
        ("东风镇", 10, 5, 0.5), ("西岭乡", 10, 10, 1.0), ("南湖镇", 10, 0, 0.0), (None, 1, 1, 1.0)]
    dongfeng = by_name["东风镇"]
    assert (dongfeng.uploaded, dongfeng.published, dongfeng.rejected, dongfeng.waiting,
            dongfeng.minutes_published) == (9, 6, 1, 1, 55.0)
    assert [(t.name, t.met) for t in q2.townships] == [("东风镇", 4), ("西岭乡", 1), ("南湖镇", 10), (None, 0)]
    dongfeng = q2.townships[0]
    assert (dongfeng.uploaded, dongfeng.published, dongfeng.rejected, dongfeng.waiting,
            dongfeng.minutes_published) == (7, 4, 1, 1, 52.5)
    assert (q1.totals.branches, q1.totals.met, q1.totals.uploaded, q1.totals.published) == (31, 16, 21, 17)
    assert q1.totals.minutes_published == 55.0 + 100.0 + 30.0  # the lesson of no branch is in no report
    # The sums of the rows, as the rows say.
    for report in (q1, q2):
        for t in report.townships:
            rows = [r for r in report.branches if r.township_id == t.township_id]
            assert t.branches == len(rows) and t.met == sum(r.requirement_met for r in rows)
            assert t.uploaded == sum(r.uploaded for r in rows) and t.waiting == sum(r.waiting for r in rows)
    # Idle in Q1: 东风 6 and 9, 南湖 1-9 (南湖 0 has a lesson waiting); Q2: 东风 4, 5, 9, 西岭 2-9, the loose branch.
    assert [b.branch for b in q1.idle_branches] == [branch_name(0, 6), branch_name(0, 9)] + [
        branch_name(2, b) for b in range(1, 10)]
    assert [b.branch for b in q2.idle_branches] == [branch_name(0, b) for b in (4, 5, 9)] + [
        branch_name(1, b) for b in range(2, 10)] + [LOOSE_BRANCH]


def test_a_township_scope_holds_only_its_branches(engine: Any) -> None:
    county = seed_county(engine)
    report = _report(engine, "2026Q2", township=county.townships[1])
    assert report.scope.name == "西岭乡" and len(report.branches) == 10
    assert {r.township for r in report.branches} == {"西岭乡"} and len(report.townships) == 1
    assert (report.totals.met, report.totals.uploaded, report.totals.published, report.totals.minutes_published) == (
        1, 3, 2, 10.0)
    with unit_of_work(engine) as s, pytest.raises(TownshipNotFound):
        branch_report(s, period=parse_period("2026Q2"), township_id=county.branches[(1, 0)])  # a branch


def test_last_publication_is_before_the_periods_end(engine: Any) -> None:
    county = seed_county(engine)
    q1 = {r.branch_id: r for r in _report(engine, "2026Q1").branches}
    q2 = {r.branch_id: r for r in _report(engine, "2026Q2").branches}
    late = county.branches[(0, 5)]  # uploaded in the last half hour of Q1, published on 2 April
    assert (q1[late].published, q1[late].requirement_met, q1[late].last_published_on) == (1, True, None)
    assert (q2[late].uploaded, q2[late].requirement_met, q2[late].last_published_on) == (0, False, date(2026, 4, 2))
    early = county.branches[(0, 6)]  # ten minutes into Q2 in the county, still 31 March in UTC
    assert (q1[early].uploaded, q2[early].uploaded, q2[early].requirement_met) == (0, 1, True)
    withdrawn = county.branches[(0, 7)]
    assert (q1[withdrawn].uploaded, q1[withdrawn].published, q1[withdrawn].last_published_on) == (1, 0, None)


def test_a_months_requirement_is_its_quarter_so_far_and_a_years_every_begun_quarter(engine: Any) -> None:
    county = seed_county(engine)
    may = _report(engine, "2026-05")
    assert [r.branch_id for r in may.branches if r.township == "东风镇" and r.requirement_met] == [
        county.branches[(0, b)] for b in (1, 3, 6)]  # 东风一村's June lesson is after May
    assert (may.totals.uploaded, may.branches[0].uploaded) == (12, 0)
    in_june = _report(engine, "2026", now=datetime(2026, 6, 30, tzinfo=UTC))  # Q1 and Q2 begun
    assert [r.branch for r in in_june.branches if r.requirement_met] == [branch_name(0, 0), branch_name(0, 1),
                                                                       branch_name(1, 0)]
    in_july = _report(engine, "2026")  # Q3 has begun: nobody but 南湖九村 (a July lesson) has one in it
    assert [r.branch for r in in_july.branches if r.requirement_met] == []
    assert _report(engine, "2030Q1").totals.met == 0  # nothing is met in a period that has not begun


def test_themed_lessons_are_dated_in_the_window_or_tagged_in_the_year(engine: Any) -> None:
    county = seed_county(engine)
    for period in ("2026Q1", "2026Q2", "2026"):
        themed = _report(engine, period).themed
        assert (themed.window.start, themed.window.end, themed.window.tag) == (date(2026, 6, 15), date(2026, 7, 15),
                                                                               "七一")
        # 东风一村 (recorded 20 June), 东风二村 (tagged), 南湖七村 (recorded 15 June) and 南湖九村 (recorded 15
        # July); not 南湖六村 (14 June), 南湖八村 (rejected) nor 西岭一村 (tagged, but of 2025).
        assert [b.branch_id for b in themed.branches] == [county.branches[k] for k in ((0, 0), (0, 1), (2, 6),
                                                                                        (2, 8))]
        assert (themed.lessons, themed.branches_total, themed.share_covered) == (4, 31, round(4 / 31, 4))
    assert _report(engine, "2025Q3").themed.branches[0].branch_id == county.branches[(1, 0)]


def test_figures_take_a_handful_of_queries_whatever_the_number_of_branches(engine: Any) -> None:
    seed_county(engine)
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731  (before_cursor_execute's statement)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        _report(engine, "2026")
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(statements) <= 10, statements  # branches, counts, latest, four quarters, themed


def test_the_weekly_reminder_names_the_branches_without_an_upload_this_month(engine: Any) -> None:
    county = seed_county(engine)
    with unit_of_work(engine) as s:
        reminder = upload_reminder(s, today=date(2026, 5, 15))
        dongfeng = upload_reminder(s, township_id=county.townships[0], today=date(2026, 5, 15))
    assert reminder.month.name == "2026-05" and reminder.as_of == date(2026, 5, 15)
    idle = {t.name: t.idle for t in reminder.townships}
    # 东风二村's lesson of 20 May is after the 15th; 东风九村's of 5 May counts; 南湖 uploaded on 1-10 May.
    assert idle == {"东风镇": [branch_name(0, b) for b in range(10) if b != 8],
                    "西岭乡": [branch_name(1, b) for b in range(10)], "南湖镇": [], None: [LOOSE_BRANCH]}
    assert [(t.name, t.branches_total, len(t.idle)) for t in dongfeng.townships] == [("东风镇", 10, 9)]


def test_periods_are_parsed_strictly() -> None:
    assert [parse_period(p).name for p in ("2026Q3", "2026q1", "2026-07", "2026-7", " 2026 ")] == [
        "2026Q3", "2026Q1", "2026-07", "2026-07", "2026"]
    q4 = parse_period("2026Q4")
    assert (q4.first_day, q4.last_day, q4.start.utcoffset()) == (date(2026, 10, 1), date(2026, 12, 31),
                                                                 timedelta(hours=8))
    december = parse_period("2026-12")
    assert (december.first_day, december.last_day) == (date(2026, 12, 1), date(2026, 12, 31))
    for bad in ("", "2026Q5", "2026-13", "2026-00", "26Q1", "1999", "2026Q3;", "二〇二六", "2026-07-01"):
        with pytest.raises(InvalidReportPeriod):
            parse_period(bad)
