"""Report periods: a month (`2026-07`), a quarter (`2026Q3`) or a year (`2026`), in the county's time (UTC+8,
catalog/packs.py's COUNTY_TZ), from the first day's midnight to the next period's; and the quarters in which a
period checks the quarterly requirement (catalog/reports.py says what it is)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from catalog.broadcast import county_today
from catalog.errors import InvalidReportPeriod
from catalog.packs import COUNTY_TZ, quarter_bounds, quarter_of

_PERIOD = re.compile(r"^(\d{4})(?:Q([1-4])|-(0?[1-9]|1[0-2]))?$")
MIN_YEAR, MAX_YEAR = 2000, 2100


class PeriodKind(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


def county_midnight(day: date) -> datetime:
    """The first instant of a county day."""
    return datetime(day.year, day.month, day.day, tzinfo=COUNTY_TZ)


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    year: int
    number: int | None = None  # the quarter (1-4) or the month (1-12); None for a year

    @property
    def name(self) -> str:
        if self.kind == PeriodKind.QUARTER:
            return f"{self.year}Q{self.number}"
        if self.kind == PeriodKind.MONTH:
            return f"{self.year}-{self.number:02d}"
        return str(self.year)

    @property
    def start(self) -> datetime:
        """The first instant, county time."""
        if self.kind == PeriodKind.QUARTER:
            return quarter_bounds(self.name)[0]
        return datetime(self.year, self.number or 1, 1, tzinfo=COUNTY_TZ)

    @property
    def end(self) -> datetime:
        """The next period's first instant, county time."""
        if self.kind == PeriodKind.QUARTER:
            return quarter_bounds(self.name)[1]
        if self.kind == PeriodKind.MONTH and self.number != 12:
            return datetime(self.year, (self.number or 0) + 1, 1, tzinfo=COUNTY_TZ)
        return datetime(self.year + 1, 1, 1, tzinfo=COUNTY_TZ)

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return self.end.date() - timedelta(days=1)

    def requirement_windows(self, now: datetime) -> list[tuple[datetime, datetime]]:
        """The quarters the requirement is checked in, as [start, end) instants (see the module's docstring)."""
        if self.kind == PeriodKind.YEAR:
            quarters = [parse_period(f"{self.year}Q{q}") for q in range(1, 5)]
            return [(q.start, q.end) for q in quarters if q.start <= now]
        quarter = parse_period(quarter_of(self.first_day))
        return [(quarter.start, self.end)]


def parse_period(text: str) -> Period:
    """`2026Q3`, `2026-07` (or `2026-7`) or `2026`; InvalidReportPeriod otherwise."""
    found = _PERIOD.fullmatch((text or "").strip().upper())
    if found is None:
        raise InvalidReportPeriod(f"bad period {text[:40]!r}")
    year = int(found.group(1))
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidReportPeriod(f"year {year} out of range")
    if found.group(2):
        return Period(PeriodKind.QUARTER, year, int(found.group(2)))
    if found.group(3):
        return Period(PeriodKind.MONTH, year, int(found.group(3)))
    return Period(PeriodKind.YEAR, year)


def current_quarter(today: date | None = None) -> Period:
    return parse_period(quarter_of(today or county_today()))


def recent_periods(today: date | None = None, *, quarters: int = 5, months: int = 6, years: int = 2) -> list[Period]:
    """Periods to offer in a picker: the latest quarters, months and years, newest first within each."""
    today = today or county_today()
    found: list[Period] = []
    day = today
    for _ in range(quarters):
        quarter = parse_period(quarter_of(day))
        found.append(quarter)
        day = quarter.first_day - timedelta(days=1)
    year, month = today.year, today.month
    for _ in range(months):
        found.append(Period(PeriodKind.MONTH, year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    found += [Period(PeriodKind.YEAR, today.year - n) for n in range(years)]
    return found
