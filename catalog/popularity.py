"""Popularity without personal data: how often each published lesson was played and downloaded, a counter per
lesson per day (UTC) in `LessonDailyCount`, and nothing about who.

Plays come from the lesson page's beacon (once per page view, when the player first plays); downloads from the
asset route when a download link (`?download=1`) is followed. Popularity, for sorting, is plays + downloads over
the last `POPULAR_WINDOW_DAYS` days.

The guard against one client inflating the counters (`RepeatGuard`): each process remembers, for the current day
only, a keyed BLAKE2b hash of (client address, lesson, what was counted, day) and counts a repeat once. The key is
random, made when the process starts and replaced when the day changes (the remembered hashes go with it), and is
never written anywhere: the hashes cannot be turned back into addresses, not even by whoever reads the process's
memory after the key is gone, and nothing personal reaches the database or the logs. Its limits, accepted for a
county library: each API process (uvicorn worker, container) has its own memory, so one client reaching N processes
counts up to N times a day; a restart forgets; clients behind one address (a village office's router) count once
between them; and a client changing address counts again. At most `MAX_REMEMBERED` hashes a day per process: past
that the process stops counting new ones until the next day rather than forgetting (a flood of addresses must not
buy repeats) or growing without end.
"""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from catalog.models import LessonDailyCount

POPULAR_WINDOW_DAYS = 30
MAX_REMEMBERED = 200_000  # 16-byte hashes in a set: some 20 MB at the worst
Counted = Literal["plays", "downloads"]


def today_utc() -> date:
    return datetime.now(UTC).date()


class RepeatGuard:
    """Says whether (client, lesson, what) is new today in this process; see the module's docstring."""

    def __init__(self, *, max_remembered: int = MAX_REMEMBERED) -> None:
        self._lock = threading.Lock()
        self._max = max_remembered
        self._day: date | None = None
        self._key = b""
        self._seen: set[bytes] = set()

    def first_time(self, client: str, lesson_id: str, what: Counted, *, day: date) -> bool:
        with self._lock:
            if day != self._day:  # a new day: a new key, and yesterday's hashes are forgotten
                self._day, self._key, self._seen = day, os.urandom(32), set()
            digest = hashlib.blake2b(f"{client}\n{lesson_id}\n{what}\n{day.isoformat()}".encode(), key=self._key,
                                     digest_size=16).digest()
            if digest in self._seen or len(self._seen) >= self._max:
                return False
            self._seen.add(digest)
            return True


GUARD = RepeatGuard()  # one per process


def _upsert(session: Session, lesson_id: str, day: date, what: Counted) -> None:
    """Add one to the lesson's counter for the day, creating the row if need be, in one statement."""
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert if dialect == "sqlite" else None
    if insert is None:
        raise NotImplementedError(f"counting on {dialect}")
    values = {"lesson_id": lesson_id, "day": day, "plays": int(what == "plays"),
              "downloads": int(what == "downloads")}
    stmt = insert(LessonDailyCount).values(**values)
    column = getattr(LessonDailyCount, what)
    session.execute(stmt.on_conflict_do_update(index_elements=["lesson_id", "day"],
                                               set_={what: column + getattr(stmt.excluded, what)}))


def count(session: Session, lesson_id: str, what: Counted, *, client: str, guard: RepeatGuard = GUARD,
          day: date | None = None) -> bool:
    """Count one play or download of a lesson (the caller checked that it is published) unless this client was
    counted for it today already; True when it counted."""
    day = day or today_utc()
    if not guard.first_time(client, lesson_id, what, day=day):
        return False
    _upsert(session, lesson_id, day, what)
    return True


def recent_popularity(lesson_id_column: Any, *, today: date | None = None,
                      window_days: int = POPULAR_WINDOW_DAYS) -> Any:
    """SQL for a lesson's plays + downloads over the last `window_days` days (0 without any), correlated to
    `lesson_id_column` (Lesson.id in the outer query), for ORDER BY."""
    since = (today or today_utc()) - timedelta(days=window_days - 1)
    return (select(func.coalesce(func.sum(col(LessonDailyCount.plays) + col(LessonDailyCount.downloads)), 0))
            .where(col(LessonDailyCount.lesson_id) == lesson_id_column, col(LessonDailyCount.day) >= since)
            .scalar_subquery())


def daily_counts(session: Session, lesson_id: str) -> list[LessonDailyCount]:
    """A lesson's counters, oldest day first."""
    return list(session.exec(select(LessonDailyCount).where(LessonDailyCount.lesson_id == lesson_id)
                             .order_by(col(LessonDailyCount.day))).all())
