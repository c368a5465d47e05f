"""What goes on air: published lessons with their audio editions, for the podcast feeds (api/feeds.py) and for the
daily broadcast (党课大家听) that village loudspeakers play.

A day's programme, for the whole county or for one township, is planned the first time somebody asks for it and
then stored (`BroadcastProgramme`), so that a date always answers the same lessons whatever is published later.
Planning (`plan_programme`, a pure function):

1. candidates: lessons published before the day begins (county time), with an audio edition of known length;
2. left out: every lesson on a stored programme of the same scope within 29 days before or after the day, so that
   dates planned in any order never repeat a lesson within 30 days;
3. order: new lessons first (published in the 30 days before the day and never aired in this scope before it; in
   a township's programme its own branches' first; oldest published first, so none waits forever), then 精品,
   then the rest, both least recently aired first (never aired first), then oldest published; the lesson id
   breaks ties, so the same rows always give the same plan;
4. fill: lessons are taken in that order while they fit the target length; one that does not fit is taken only
   when it overshoots by less than the programme falls short without it (and then the programme is full), else it
   waits for another day. So the length ends within one lesson of the target, unless the candidates run out.

A day with nothing to play is not stored (nobody heard anything, and lessons published later may fill it).
Two first requests for the same day at once: planning holds a lock per scope (an advisory lock on PostgreSQL,
the write lock on SQLite), and the unique (day, township) constraint settles whatever slips past it; the loser
reads the winner's programme. Serving drops lessons that are no longer published or lost their audio edition.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, false, func, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from catalog.library import audible
from catalog.models import Asset, AssetKind, BroadcastProgramme, Lesson, Organisation, OrgKind

COUNTY_TIME = timezone(timedelta(hours=8))  # the county's clock decides where a day begins, whatever the server's
NO_REPEAT_DAYS = 30  # a lesson airs at most once in any 30 days of one scope's programmes
NEW_WITHIN_DAYS = 30  # "new": published at most this many days before the day, and not aired yet
HISTORY_DAYS = 400  # how far back "least recently aired" looks
COUNTY_SCOPE = 0  # BroadcastProgramme.township_id of the county's own programme
_LOCK_KEY = 0x5745494B0000  # PostgreSQL advisory lock keys: this plus the scope ("WEIK")


class Reason(StrEnum):
    """Why a lesson is on a day's programme."""

    NEW = "new"  # newly published
    FEATURED = "featured"  # 精品
    LIBRARY = "library"  # the rest of the library, least recently aired first


@dataclass(frozen=True)
class OnAir:
    """A published lesson with its audio edition."""

    lesson: Lesson
    audio: Asset

    @property
    def duration_s(self) -> float:
        return float(self.audio.duration_s or self.lesson.duration_s or 0.0)


def _published_at() -> Any:
    return func.coalesce(col(Lesson.published_at), col(Lesson.created_at))


def on_air_lessons(session: Session, *, series_id: int | None = None, category_id: int | None = None,
                   lesson_ids: Collection[str] | None = None, published_before: datetime | None = None,
                   limit: int | None = None) -> list[OnAir]:
    """Published lessons that have an audio edition, newest published first (the lesson id breaks ties); those
    without one are left out. `lesson_ids` limits them to a set (a pack, a stored programme)."""
    stmt = (select(Lesson, Asset)  # the join brings the edition itself (its length, its key)
            .join(Asset, and_(col(Asset.lesson_id) == col(Lesson.id), col(Asset.kind) == AssetKind.AUDIO_EDITION))
            .where(audible()))
    if series_id is not None:
        stmt = stmt.where(col(Lesson.series_id) == series_id)
    if category_id is not None:
        stmt = stmt.where(col(Lesson.category_id) == category_id)
    if lesson_ids is not None:
        if not lesson_ids:
            return []
        stmt = stmt.where(col(Lesson.id).in_(list(lesson_ids)))
    if published_before is not None:
        stmt = stmt.where(_published_at() < published_before.astimezone(UTC))
    stmt = stmt.order_by(_published_at().desc(), col(Lesson.id), col(Asset.id))
    if limit is not None:
        stmt = stmt.limit(limit)
    found: dict[str, OnAir] = {}
    for lesson, audio in session.exec(stmt).all():
        found.setdefault(lesson.id, OnAir(lesson, audio))
    return list(found.values())


# --- planning ------------------------------------------------------------------------------------------------------


def day_start(day: date) -> datetime:
    """Midnight at the start of `day`, county time."""
    return datetime.combine(day, time.min, tzinfo=COUNTY_TIME)


def county_today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(COUNTY_TIME).date()


@dataclass(frozen=True)
class Candidate:
    """What planning needs to know of a lesson that may go on air."""

    lesson_id: str
    published_at: datetime
    featured: bool
    branch_id: int | None
    duration_s: float


def plan_programme(candidates: Sequence[Candidate], *, day: date, target_s: float,
                   aired: Mapping[str, Collection[date]], own_branches: Collection[int] = ()
                   ) -> list[tuple[str, Reason]]:
    """The lessons for `day` in playing order, each with why it was chosen (see the module's docstring).
    `aired` gives, per lesson, the days of this scope's stored programmes it is on; `own_branches`, a township's
    branches (their new lessons go first)."""
    start = day_start(day)
    new_since = start - timedelta(days=NEW_WITHIN_DAYS)
    ranked: list[tuple[tuple[Any, ...], Candidate, Reason]] = []
    for c in candidates:
        days = aired.get(c.lesson_id, ())
        if c.duration_s <= 0 or c.published_at >= start or any(abs((d - day).days) < NO_REPEAT_DAYS for d in days):
            continue
        last_aired = max((d for d in days if d < day), default=None)
        if last_aired is None and c.published_at >= new_since:
            ranked.append(((0, c.branch_id not in own_branches, c.published_at, c.lesson_id), c, Reason.NEW))
        else:
            tier, reason = (1, Reason.FEATURED) if c.featured else (2, Reason.LIBRARY)
            ranked.append(((tier, last_aired or date.min, c.published_at, c.lesson_id), c, reason))
    ranked.sort(key=lambda entry: entry[0])
    chosen: list[tuple[str, Reason]] = []
    total_s = 0.0
    for _, c, reason in ranked:
        if total_s >= target_s:
            break
        after_s = total_s + c.duration_s
        if after_s <= target_s or after_s - target_s < target_s - total_s:
            chosen.append((c.lesson_id, reason))
            total_s = after_s
    return chosen


# --- stored programmes ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    number: int  # 1, 2, … in playing order
    on_air: OnAir
    reason: str


@dataclass(frozen=True)
class Programme:
    day: date
    township: Organisation | None  # None: the whole county's
    target_s: int
    slots: tuple[Slot, ...]

    @property
    def duration_s(self) -> float:
        return sum(slot.on_air.duration_s for slot in self.slots)


def get_township(session: Session, township_id: int) -> Organisation | None:
    org = session.get(Organisation, township_id)
    return org if org is not None and org.kind == OrgKind.TOWNSHIP else None


def programme_for(session: Session, day: date, *, target_s: int, township: Organisation | None = None
                  ) -> Programme:
    """The day's programme for the county (or the township): the stored one, else planned now and stored."""
    scope = township.id if township is not None and township.id is not None else COUNTY_SCOPE
    stored = _stored(session, day, scope)
    if stored is None:
        _hold_scope(session, scope)
        stored = _stored(session, day, scope) or _plan_and_store(session, day, scope, target_s)
    return _served(session, stored, township)


def _stored(session: Session, day: date, scope: int) -> BroadcastProgramme | None:
    return session.exec(select(BroadcastProgramme).where(BroadcastProgramme.day == day,
                                                          BroadcastProgramme.township_id == scope)).first()


def _hold_scope(session: Session, scope: int) -> None:
    """Plan one scope's days one at a time, until this transaction ends: two days planned at once could each pick
    the lesson the other picked."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY + scope})
    elif dialect == "sqlite":  # a write, even of no row, takes the database's write lock now
        session.execute(update(BroadcastProgramme).where(false())
                        .values(target_s=BroadcastProgramme.target_s))


def _slots_of(row: BroadcastProgramme) -> list[dict[str, str]]:
    slots = json.loads(row.slots_json)
    return [s for s in slots if isinstance(s, dict) and isinstance(s.get("lesson_id"), str)]


def _aired(session: Session, day: date, scope: int) -> dict[str, list[date]]:
    """Per lesson, the days of this scope's stored programmes from HISTORY_DAYS before `day` to the last day that
    could still repeat it."""
    rows = session.exec(select(BroadcastProgramme).where(
        BroadcastProgramme.township_id == scope,
        col(BroadcastProgramme.day) >= day - timedelta(days=HISTORY_DAYS),
        col(BroadcastProgramme.day) < day + timedelta(days=NO_REPEAT_DAYS))).all()
    aired: dict[str, list[date]] = defaultdict(list)
    for row in rows:
        for slot in _slots_of(row):
            aired[slot["lesson_id"]].append(row.day)
    return aired


def _plan_and_store(session: Session, day: date, scope: int, target_s: int) -> BroadcastProgramme:
    candidates = [Candidate(lesson_id=o.lesson.id, published_at=(o.lesson.published_at or o.lesson.created_at),
                            featured=o.lesson.featured, branch_id=o.lesson.branch_id, duration_s=o.duration_s)
                  for o in on_air_lessons(session, published_before=day_start(day))]
    own: list[int] = []
    if scope != COUNTY_SCOPE:
        own = [i for i in session.exec(select(Organisation.id).where(Organisation.parent_id == scope)).all()
               if i is not None]
    plan = plan_programme(candidates, day=day, target_s=target_s, aired=_aired(session, day, scope),
                          own_branches=set(own))
    row = BroadcastProgramme(day=day, township_id=scope, target_s=target_s,
                             slots_json=json.dumps([{"lesson_id": i, "reason": str(r)} for i, r in plan]))
    if not plan:
        return row  # nothing to play: not kept, so that lessons published later may still fill the day
    try:
        with session.begin_nested():  # another process may be storing the same day right now
            session.add(row)
    except IntegrityError:
        winner = _stored(session, day, scope)
        if winner is None:
            raise
        return winner
    return row


def _served(session: Session, row: BroadcastProgramme, township: Organisation | None) -> Programme:
    """The stored programme as it plays now: lessons withdrawn since (or without their audio edition) drop out."""
    wanted = _slots_of(row)
    found = {o.lesson.id: o for o in on_air_lessons(session, lesson_ids={s["lesson_id"] for s in wanted})}
    slots: list[Slot] = []
    for s in wanted:
        on_air = found.get(s["lesson_id"])
        if on_air is not None:
            slots.append(Slot(number=len(slots) + 1, on_air=on_air, reason=s.get("reason", Reason.LIBRARY)))
    return Programme(day=row.day, township=township, target_s=row.target_s, slots=tuple(slots))
