"""Audio packs (党课随身听): an ordered selection of published lessons, built by a worker into a ZIP of MP3s for
small offline players, in versions.

A pack is a hand-picked list of lessons or a selection (a quarter's new lessons, a category, a series, the featured
ones). Each build is a version with its own tracks; when a lesson of the newest version is withdrawn, re-captioned or
revised the pack is marked stale and the maintenance beat builds the next version, re-reading the list or the
selection, so a withdrawn lesson drops out. Superseded versions stay downloadable for `KEEP_SUPERSEDED`, except
those holding a withdrawn lesson: they expire the moment it is withdrawn (`withdraw_from_packs`).

Builds carry a lease like lesson jobs (catalog/jobs.py): a worker that dies mid-build stops renewing it and the beat
enqueues the build again; a redelivered message for a version that is no longer building does nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import exists, func, or_, tuple_
from sqlmodel import Session, col, select

from catalog.audit import record
from catalog.errors import Forbidden, InvalidPack, PackEmpty, PackLessonsUnavailable, PackNotFound
from catalog.fields import one_line, optional_line
from catalog.library import audible
from catalog.lifecycle import Viewer, may_make_packs
from catalog.models import (
    AudioPack,
    AudioPackTrack,
    AudioPackVersion,
    CaptionVersion,
    Category,
    Lesson,
    Organisation,
    PackOrder,
    PackStatus,
    ReviewState,
    TranscriptSegment,
    utcnow,
)

MAX_TRACKS = 300
MAX_TITLE_CHARS = 200
MAX_AUDIENCE_CHARS = 100
KEEP_SUPERSEDED = timedelta(days=90)
# Quarters are the county's (China Standard Time), not UTC's.
COUNTY_TZ = timezone(timedelta(hours=8))
# The beat's quarterly pack: its title is data shown to listeners, hence Chinese.
QUARTERLY_TITLE = "{year}年第{q}季度 党课随身听"
QUARTERLY_AUDIENCE = "老年党员"
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
_SELECTION_KEYS = ("quarter", "category", "series_id", "featured")


@dataclass(frozen=True)
class PackSelection:
    quarter: str | None = None  # "2026Q3"
    category: str | None = None  # a category slug
    series_id: int | None = None
    featured: bool = False

    def as_json(self) -> str:
        return json.dumps({k: v for k, v in self.__dict__.items() if v not in (None, False)}, sort_keys=True)


@dataclass(frozen=True)
class TrackPlan:
    n: int
    lesson_id: str
    filename: str
    title: str
    duration_s: float


def quarter_of(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def quarter_bounds(quarter: str) -> tuple[datetime, datetime]:
    """The quarter's first instant and the next quarter's, in the county's time zone."""
    found = _QUARTER.fullmatch(quarter)
    if found is None:
        raise InvalidPack(f"bad quarter {quarter!r}", message="季度的写法应为 2026Q3")
    year, q = int(found.group(1)), int(found.group(2))
    start = datetime(year, 3 * q - 2, 1, tzinfo=COUNTY_TZ)
    end = datetime(year + 1, 1, 1, tzinfo=COUNTY_TZ) if q == 4 else datetime(year, 3 * q + 1, 1, tzinfo=COUNTY_TZ)
    return start, end


def previous_quarter(day: date) -> str:
    first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return quarter_of(first - timedelta(days=1))


def parse_selection(raw: Mapping[str, Any]) -> PackSelection:
    unknown = set(raw) - set(_SELECTION_KEYS)
    if unknown:
        raise InvalidPack(f"unknown selection keys {sorted(unknown)}",
                          message="选择范围只能按季度、分类、系列或精品课程")
    quarter, category, series_id, featured = (raw.get(k) for k in _SELECTION_KEYS)
    if quarter is not None and (not isinstance(quarter, str) or _QUARTER.fullmatch(quarter) is None):
        raise InvalidPack(f"bad quarter {quarter!r}", message="季度的写法应为 2026Q3")
    if category is not None and (not isinstance(category, str) or not category.strip()):
        raise InvalidPack("bad category", message="分类填写有误")
    if series_id is not None and (not isinstance(series_id, int) or isinstance(series_id, bool) or series_id < 1):
        raise InvalidPack("bad series id", message="系列填写有误")
    if featured is not None and not isinstance(featured, bool):
        raise InvalidPack("bad featured flag", message="精品课程的选择应为 true 或 false")
    selection = PackSelection(quarter=quarter, category=category.strip() if category else None,
                              series_id=series_id, featured=bool(featured))
    if selection == PackSelection():
        raise InvalidPack("empty selection", message="请至少选择季度、分类、系列或精品课程中的一项")
    return selection


def _selection(pack: AudioPack) -> PackSelection | None:
    if pack.selection_json is None:
        return None
    return parse_selection(json.loads(pack.selection_json))


def _lesson_ids(pack: AudioPack) -> list[str]:
    return list(json.loads(pack.lesson_ids_json or "[]"))


def _ordered(lessons: Sequence[Lesson], order: str) -> list[Lesson]:
    def published(lesson: Lesson) -> float:
        return lesson.published_at.timestamp() if lesson.published_at else lesson.created_at.timestamp()

    if order == PackOrder.EPISODE:
        return sorted(lessons, key=lambda ls: (ls.series_id is None, ls.series_id or 0, ls.episode is None,
                                               ls.episode or 0, published(ls), ls.id))
    return sorted(lessons, key=lambda ls: (published(ls), ls.id))


def pack_lessons(session: Session, pack: AudioPack) -> list[Lesson]:
    """The lessons the pack holds now, in track order: only published lessons with an audio edition."""
    selection = _selection(pack)
    if selection is None:
        wanted = _lesson_ids(pack)
        found = {ls.id: ls for ls in session.exec(select(Lesson).where(col(Lesson.id).in_(wanted), audible()))}
        in_list = [found[i] for i in wanted if i in found]
        return in_list if pack.track_order == PackOrder.MANUAL else _ordered(in_list, pack.track_order)
    stmt = select(Lesson).where(audible())
    if selection.quarter:
        start, end = quarter_bounds(selection.quarter)
        stmt = stmt.where(col(Lesson.published_at) >= start.astimezone(UTC), col(Lesson.published_at) < end.astimezone(UTC))
    if selection.category:
        stmt = stmt.join(Category, col(Category.id) == col(Lesson.category_id)).where(Category.slug == selection.category)
    if selection.series_id is not None:
        stmt = stmt.where(Lesson.series_id == selection.series_id)
    if selection.featured:
        stmt = stmt.where(col(Lesson.featured).is_(True))
    return _ordered(list(session.exec(stmt).all()), pack.track_order)[:MAX_TRACKS]


@dataclass(frozen=True)
class Credit:
    """Who gave a lesson, as a track's tags and spoken intro name them."""

    speaker: str | None  # the lecturer's name (Lesson.speaker is kept in step with the speaker pool's)
    branch: str | None  # the branch's name


def credits(session: Session, lessons: Sequence[Lesson]) -> dict[str, Credit]:
    """Each lesson's speaker and branch, by lesson id, in one query."""
    branch_ids = {ls.branch_id for ls in lessons if ls.branch_id is not None}
    names = dict(session.exec(select(Organisation.id, Organisation.name)
                              .where(col(Organisation.id).in_(branch_ids))).all()) if branch_ids else {}
    return {ls.id: Credit(speaker=ls.speaker, branch=names.get(ls.branch_id) if ls.branch_id else None)
            for ls in lessons}


def transcripts(session: Session, lessons: Sequence[Lesson]) -> dict[str, str]:
    """Each lesson's published transcript (its current caption version's sentences, one per line), by lesson id;
    lessons without one are left out. Two queries, whatever the number of lessons."""
    wanted = {(ls.id, ls.caption_version) for ls in lessons if ls.caption_version is not None}
    if not wanted:
        return {}
    versions = dict(session.exec(select(CaptionVersion.id, CaptionVersion.lesson_id).where(
        tuple_(col(CaptionVersion.lesson_id), col(CaptionVersion.version)).in_(sorted(wanted)))).all())
    lines: dict[str, list[str]] = {}
    for version_id, text in session.exec(
            select(TranscriptSegment.caption_version_id, TranscriptSegment.text)
            .where(col(TranscriptSegment.caption_version_id).in_(list(versions)))
            .order_by(col(TranscriptSegment.caption_version_id), col(TranscriptSegment.position))).all():
        if text.strip():
            lines.setdefault(versions[version_id], []).append(text)
    return {lesson_id: "\n".join(texts) for lesson_id, texts in lines.items()}


def create_pack(session: Session, viewer: Viewer, *, title: str | None, audience: str | None = None,
                lesson_ids: Sequence[str] | None = None, selection: Mapping[str, Any] | None = None,
                order: str | None = None, spoken_intros: bool = False, quarter: str | None = None) -> AudioPack:
    """A new pack, checked: only published lessons with audio, at least one of them. Its first version is started
    by the caller (workers/packs.py), which names the files."""
    if not may_make_packs(viewer):
        raise Forbidden(f"{viewer.username} ({viewer.role}) may not make packs",
                        message="只有县审核员、乡镇组织员和管理员可以制作音频包")
    if (lesson_ids is None) == (selection is None):
        raise InvalidPack("give lesson_ids or selection", message="请给出课程列表或选择范围（二者选一）")
    chosen = parse_selection(selection) if selection is not None else None
    if order is None:
        order = PackOrder.MANUAL if chosen is None else (PackOrder.EPISODE if chosen.series_id else PackOrder.DATE)
    if order not in set(PackOrder) or (order == PackOrder.MANUAL and chosen is not None):
        raise InvalidPack(f"bad order {order!r}", message="排列顺序只能是 manual（按列出的顺序）、episode 或 date")
    pack = AudioPack(title=one_line(title, max_chars=MAX_TITLE_CHARS, what="音频包名称"),
                     audience=optional_line(audience, max_chars=MAX_AUDIENCE_CHARS, what="收听对象"),
                     track_order=order, spoken_intros=bool(spoken_intros), quarter=quarter,
                     selection_json=chosen.as_json() if chosen else None, created_by_id=viewer.account_id)
    if lesson_ids is not None:
        ids = list(dict.fromkeys(str(i) for i in lesson_ids))
        if not ids or len(ids) > MAX_TRACKS:
            raise InvalidPack(f"{len(ids)} lessons", message=f"一个音频包放 1 到 {MAX_TRACKS} 节课")
        pack.lesson_ids_json = json.dumps(ids)
        playable = {ls.id for ls in pack_lessons(session, pack)}
        missing = [i for i in ids if i not in playable]
        if missing:
            raise PackLessonsUnavailable(f"not published or without audio: {', '.join(missing[:20])}")
    elif not pack_lessons(session, pack):
        raise PackEmpty(f"selection {pack.selection_json} holds no published lesson with audio")
    session.add(pack)
    session.flush()
    record(session, actor=viewer.username or "system", action="create_pack",
           subject=f"pack:{pack.id} {pack.title}"[:200])
    return pack


def get_pack(session: Session, pack_id: int) -> AudioPack:
    pack = session.get(AudioPack, pack_id)
    if pack is None:
        raise PackNotFound(f"pack {pack_id}")
    return pack


def list_packs(session: Session, *, offset: int = 0, limit: int = 50) -> tuple[list[AudioPack], int]:
    total = session.exec(select(func.count()).select_from(AudioPack)).one()
    page = session.exec(select(AudioPack).order_by(col(AudioPack.created_at).desc(), col(AudioPack.id).desc())
                        .offset(offset).limit(limit)).all()
    return list(page), int(total)


def start_version(session: Session, pack: AudioPack, tracks: Sequence[TrackPlan]) -> AudioPackVersion:
    """The pack's next version, building, with its tracks."""
    if not tracks:
        raise PackEmpty(f"pack {pack.id} holds no published lesson with audio now")
    pack.version += 1
    pack.stale = False
    pack.updated_at = utcnow()
    version = AudioPackVersion(pack_id=pack.id or 0, version=pack.version,
                               duration_s=round(sum(t.duration_s for t in tracks), 3))
    session.add(version)
    session.flush()
    for t in tracks:
        session.add(AudioPackTrack(version_id=version.id or 0, n=t.n, lesson_id=t.lesson_id, filename=t.filename,
                                   title=t.title[:200], duration_s=t.duration_s))
    session.flush()
    return version


def newest_version(session: Session, pack: AudioPack) -> AudioPackVersion | None:
    return session.exec(select(AudioPackVersion).where(AudioPackVersion.pack_id == pack.id,
                                                       AudioPackVersion.version == pack.version)).first()


def newest_versions(session: Session, packs: Sequence[AudioPack]) -> dict[int, AudioPackVersion]:
    if not packs:
        return {}
    wanted = [(p.id, p.version) for p in packs]
    rows = session.exec(select(AudioPackVersion).where(
        or_(*[(col(AudioPackVersion.pack_id) == pid) & (col(AudioPackVersion.version) == v) for pid, v in wanted]))).all()
    return {v.pack_id: v for v in rows}


def downloadable_versions(session: Session, pack: AudioPack, *, now: datetime | None = None) -> list[AudioPackVersion]:
    """Ready versions whose ZIP is kept, newest first."""
    now = now or utcnow()
    rows = session.exec(select(AudioPackVersion).where(
        AudioPackVersion.pack_id == pack.id, AudioPackVersion.status == PackStatus.READY,
        or_(col(AudioPackVersion.expires_at).is_(None), col(AudioPackVersion.expires_at) > now),
    ).order_by(col(AudioPackVersion.version).desc())).all()
    return list(rows)


def version_by_id(session: Session, version_id: int) -> AudioPackVersion:
    version = session.get(AudioPackVersion, version_id)
    if version is None:
        raise PackNotFound(f"pack version {version_id}")
    return version


def version_tracks(session: Session, version_id: int) -> list[AudioPackTrack]:
    return list(session.exec(select(AudioPackTrack).where(AudioPackTrack.version_id == version_id)
                             .order_by(col(AudioPackTrack.n))).all())


def claim_build(session: Session, version_id: int, *, owner: str, lease_s: float,
                now: datetime | None = None) -> AudioPackVersion | None:
    """Take the build of a version for `owner`: None when it is not building, or another worker's lease runs."""
    now = now or utcnow()
    version = session.get(AudioPackVersion, version_id, with_for_update=True)
    if version is None or version.status != PackStatus.BUILDING:
        return None
    if version.lease_owner not in (None, owner) and version.lease_expires_at and version.lease_expires_at > now:
        return None
    version.lease_owner = owner
    version.lease_expires_at = now + timedelta(seconds=lease_s)
    version.attempts += 1
    version.progress = 0
    session.flush()
    return version


def record_build_progress(session: Session, version_id: int, *, owner: str, progress: int, lease_s: float) -> bool:
    """Progress and a renewed lease; False when the build is no longer this worker's."""
    version = session.get(AudioPackVersion, version_id)
    if version is None or version.status != PackStatus.BUILDING or version.lease_owner != owner:
        return False
    version.progress = max(0, min(99, progress))
    version.lease_expires_at = utcnow() + timedelta(seconds=lease_s)
    session.flush()
    return True


def finish_build(session: Session, version_id: int, *, owner: str, key: str, size_bytes: int, sha256: str | None,
                 now: datetime | None = None) -> bool:
    """The version is ready; earlier ready versions start their 90 days. False when it was not this worker's."""
    now = now or utcnow()
    version = session.get(AudioPackVersion, version_id, with_for_update=True)
    if version is None or version.status != PackStatus.BUILDING or version.lease_owner != owner:
        return False
    version.status, version.progress, version.key = PackStatus.READY, 100, key
    version.size_bytes, version.sha256, version.built_at = size_bytes, sha256, now
    version.lease_owner = version.lease_expires_at = None
    for older in session.exec(select(AudioPackVersion).where(
            AudioPackVersion.pack_id == version.pack_id, AudioPackVersion.version < version.version,
            col(AudioPackVersion.expires_at).is_(None))):
        older.expires_at = now + KEEP_SUPERSEDED
    session.flush()
    return True


def fail_build(session: Session, version_id: int, *, code: str, message: str, detail: str) -> None:
    version = session.get(AudioPackVersion, version_id)
    if version is None or version.status != PackStatus.BUILDING:
        return
    version.status, version.error_code, version.error_message = PackStatus.FAILED, code, message
    version.lease_owner = version.lease_expires_at = None
    record(session, actor="system", action="pack_failed", subject=f"pack:{version.pack_id} v{version.version}",
           comment=detail[:1000])
    session.flush()


def lost_builds(session: Session, *, now: datetime | None = None, unclaimed_after_s: float = 120) -> list[int]:
    """Building versions whose worker stopped renewing its lease, or that no worker took: to enqueue again."""
    now = now or utcnow()
    stmt = select(AudioPackVersion.id).where(AudioPackVersion.status == PackStatus.BUILDING, or_(
        col(AudioPackVersion.lease_expires_at) < now,
        col(AudioPackVersion.lease_expires_at).is_(None)
        & (col(AudioPackVersion.created_at) < now - timedelta(seconds=unclaimed_after_s))))
    return [int(i) for i in session.exec(stmt).all() if i is not None]


def mark_packs_stale(session: Session, lesson_id: str) -> list[int]:
    """Packs whose newest version holds the lesson: the next beat builds their next version."""
    stmt = (select(AudioPack).join(AudioPackVersion, (col(AudioPackVersion.pack_id) == col(AudioPack.id))
                                   & (col(AudioPackVersion.version) == col(AudioPack.version)))
            .join(AudioPackTrack, col(AudioPackTrack.version_id) == col(AudioPackVersion.id))
            .where(AudioPackTrack.lesson_id == lesson_id))
    marked = []
    for pack in session.exec(stmt).unique():
        pack.stale = True
        marked.append(pack.id or 0)
    session.flush()
    return marked


def withdraw_from_packs(session: Session, lesson_id: str, *, now: datetime | None = None) -> list[int]:
    """A lesson leaving the library leaves its packs at once: every version holding it, ready or still building,
    expires now (no longer downloadable; the beat's sweep deletes its ZIP), and the packs whose newest version
    holds it are marked stale, so the beat builds one without it. Returns those packs."""
    now = now or utcnow()
    holding = (select(AudioPackVersion)
               .join(AudioPackTrack, col(AudioPackTrack.version_id) == col(AudioPackVersion.id))
               .where(AudioPackTrack.lesson_id == lesson_id,
                      or_(col(AudioPackVersion.expires_at).is_(None), col(AudioPackVersion.expires_at) > now)))
    for version in session.exec(holding).unique():
        version.expires_at = now
    session.flush()
    return mark_packs_stale(session, lesson_id)


def published_lesson_ids(session: Session, lesson_ids: Sequence[str]) -> set[str]:
    """Which of these lessons are in the library now."""
    wanted = sorted(set(lesson_ids))
    if not wanted:
        return set()
    return set(session.exec(select(Lesson.id).where(col(Lesson.id).in_(wanted),
                                                    Lesson.review_state == ReviewState.PUBLISHED)).all())


def stale_packs(session: Session) -> list[AudioPack]:
    """Stale packs whose newest version is not still building (that build finishes first; then they come up)."""
    building = exists().where(col(AudioPackVersion.pack_id) == col(AudioPack.id),
                              col(AudioPackVersion.version) == col(AudioPack.version),
                              col(AudioPackVersion.status) == PackStatus.BUILDING)
    return list(session.exec(select(AudioPack).where(col(AudioPack.stale).is_(True), ~building)).all())


def expired_versions(session: Session, *, now: datetime | None = None) -> list[AudioPackVersion]:
    now = now or utcnow()
    return list(session.exec(select(AudioPackVersion).where(col(AudioPackVersion.expires_at) <= now,
                                                            col(AudioPackVersion.key).is_not(None))).all())


def quarterly_pack(session: Session, quarter: str) -> AudioPack | None:
    return session.exec(select(AudioPack).where(AudioPack.quarter == quarter)).first()


def quarterly_title(quarter: str) -> str:
    start, _ = quarter_bounds(quarter)
    return QUARTERLY_TITLE.format(year=start.year, q=(start.month - 1) // 3 + 1)
