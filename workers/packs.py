"""Audio packs, built: a pack's next version is planned (track order, file names) in one transaction and built by the
`media.pack` task into a stored ZIP (transcode/pack_zip.py) with no track re-encoded.

A track is a fresh ID3v2.3 tag followed by the audio edition's MPEG frames as they are stored, or, with spoken
intros, by one Xing header for the whole track, the intro's frames and the edition's frames (transcode/mp3_frames.py).
Every piece streams into the ZIP straight from the stored files, so a pack costs about one read and one write of its
bytes. Intros are encoded once per text and voice and kept in storage (ingest/keys.py `spoken_intro`), so a rebuild
only joins them.

Crashes: the build holds a lease it renews with each progress report; `sweep_packs` (beat) enqueues builds whose lease
ran out, and a redelivered message for a version that is no longer building does nothing. The ZIP becomes visible
in one `put` and the version turns ready after it, so nobody downloads half a pack.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from catalog import packs
from catalog.db import unit_of_work
from catalog.errors import CatalogError, PackEmpty
from catalog.lifecycle import Viewer
from catalog.models import Asset, AssetKind, AudioPack, AudioPackVersion, Lesson, Role
from ingest import keys
from ingest.errors import ObjectMissing, StorageUnavailable
from transcode.errors import TranscodeError
from transcode.spans import Piece
from workers.wiring import Context, scratch_dir, sender_for, worker_name

log = logging.getLogger(__name__)

BUILD_TASK = "media.pack"
PROGRESS_EVERY_S = 1.0
INTRO_SHARE = 0.3  # of the progress bar, for making intros (the rest is writing the ZIP)
GENRE = "党课"  # ID3 genre: shown by players, so Chinese
COVER_NAME = "封面.jpg"
COVER_FORMAT = 1  # part of a stored cover's key: bump when transcode/pack_covers.py draws differently
ZIP_TIME = datetime(2026, 1, 1)  # every entry's time: the same pack makes the same bytes


@dataclass(frozen=True)
class TrackSource:
    """What the build needs of one track, read in the planning transaction."""

    n: int
    filename: str
    lesson_id: str
    title: str
    speaker: str | None
    branch: str | None
    year: int | None
    duration_s: float
    edition_key: str
    lyrics: str | None


def enqueue_build(ctx: Context, version_id: int) -> None:
    """Send the build task; only after the transaction that made the version has committed."""
    sender_for(ctx.settings).send_task(BUILD_TASK, args=[version_id], queue="media")


def _editions(session: Session, lesson_ids: Sequence[str]) -> dict[str, Asset]:
    rows = session.exec(select(Asset).where(col(Asset.lesson_id).in_(lesson_ids),
                                            Asset.kind == AssetKind.AUDIO_EDITION)).all()
    return {a.lesson_id: a for a in rows}


def plan_version(session: Session, pack: AudioPack) -> AudioPackVersion:
    """The pack's next version with its tracks named, in this transaction (the caller enqueues after commit)."""
    from transcode.pack_names import track_file_names

    lessons = packs.pack_lessons(session, pack)
    editions = _editions(session, [ls.id for ls in lessons])
    names = track_file_names([ls.title for ls in lessons])
    plans = [packs.TrackPlan(n=i, lesson_id=ls.id, filename=name, title=ls.title,
                             duration_s=float(editions[ls.id].duration_s or ls.duration_s or 0.0))
             for i, (ls, name) in enumerate(zip(lessons, names, strict=True), start=1)]
    return packs.start_version(session, pack, plans)


def make_pack(ctx: Context, viewer: Viewer, **fields: Any) -> tuple[AudioPack, AudioPackVersion]:
    """Create a pack and start building its first version."""
    with unit_of_work(ctx.engine) as session:
        pack = packs.create_pack(session, viewer, **fields)
        version = plan_version(session, pack)
    enqueue_build(ctx, version.id or 0)
    return pack, version


def rebuild_pack(ctx: Context, pack_id: int) -> AudioPackVersion | None:
    """Start the next version of a pack (stale, or asked for); None when its newest version is still building or it
    holds no playable lesson any more (then it stays as it is, marked stale no longer)."""
    with unit_of_work(ctx.engine) as session:
        pack = packs.get_pack(session, pack_id)
        newest = packs.newest_version(session, pack)
        if newest is not None and newest.status == "building":
            return None
        if not packs.pack_lessons(session, pack):
            pack.stale = False
            log.warning("pack %s holds no published lesson with audio any more; not rebuilt", pack_id)
            return None
        version = plan_version(session, pack)
    enqueue_build(ctx, version.id or 0)
    return version


def _track_sources(session: Session, version: AudioPackVersion) -> list[TrackSource]:
    tracks = packs.version_tracks(session, version.id or 0)
    lesson_ids = [t.lesson_id for t in tracks if t.lesson_id]
    lessons = {ls.id: ls for ls in session.exec(select(Lesson).where(col(Lesson.id).in_(lesson_ids)))}
    editions = _editions(session, lesson_ids)
    credits = packs.credits(session, list(lessons.values()))
    lyrics = packs.transcripts(session, list(lessons.values()))
    sources = []
    for t in tracks:
        lesson = lessons.get(t.lesson_id or "")
        edition = editions.get(t.lesson_id or "")
        if lesson is None or edition is None:
            raise CatalogError(f"pack version {version.id}: track {t.n} lost its lesson or audio edition",
                               message="音频包里有课程已被删除，请重新生成")
        credit = credits[lesson.id]
        sources.append(TrackSource(
            n=t.n, filename=t.filename, lesson_id=lesson.id, title=lesson.title, speaker=credit.speaker,
            branch=credit.branch, duration_s=t.duration_s, edition_key=edition.key,
            year=(lesson.published_at or lesson.created_at).year, lyrics=lyrics.get(lesson.id)))
    return sources


class _Progress:
    """Reports a build's progress at most once a second, renewing its lease; stops the build when it lost it."""

    def __init__(self, ctx: Context, version_id: int, owner: str) -> None:
        self.ctx, self.version_id, self.owner = ctx, version_id, owner
        self.last = 0.0

    def __call__(self, fraction: float, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        with unit_of_work(self.ctx.engine) as session:
            kept = packs.record_build_progress(session, self.version_id, owner=self.owner,
                                               progress=int(fraction * 100), lease_s=self.ctx.settings.pack_lease_s)
        if not kept:
            raise _LostLease(f"pack version {self.version_id} is no longer built by {self.owner}")


class _LostLease(Exception):
    pass


def build_version(ctx: Context, version_id: int) -> None:
    """The `media.pack` task's body: build, store and record one version, or record why it failed."""
    owner = worker_name()
    with unit_of_work(ctx.engine) as session:
        version = packs.claim_build(session, version_id, owner=owner, lease_s=ctx.settings.pack_lease_s)
        if version is None:
            return  # built, failed or taken by a live worker: a redelivery has nothing to do
        pack = packs.get_pack(session, version.pack_id)
        facts = (pack.id or 0, version.version, pack.title, pack.audience, pack.spoken_intros)
    pack_id, number, title, audience, intros = facts
    progress = _Progress(ctx, version_id, owner)
    try:
        with unit_of_work(ctx.engine) as session:
            sources = _track_sources(session, packs.version_by_id(session, version_id))
        with scratch_dir(ctx.settings) as tmp:
            zip_path = tmp / "pack.zip"
            _write_pack(ctx, tmp, zip_path, title=title, version=number, audience=audience, sources=sources,
                        intros=intros, on_progress=progress)
            # No SHA-256 wanted: a version's key and number name it (its ETag), and the card writer checks CRCs.
            stored = ctx.storage.put(keys.audio_pack(pack_id, number), zip_path, content_type="application/zip",
                                     handover=True, digest=False)
    except _LostLease:
        log.warning("pack version %s: lease lost, leaving the build to its new owner", version_id)
        return
    except StorageUnavailable:
        raise  # the task retries
    except (TranscodeError, CatalogError) as exc:
        with unit_of_work(ctx.engine) as session:
            packs.fail_build(session, version_id, code=exc.code, message=exc.message, detail=str(exc))
        log.warning("pack version %s failed: %s", version_id, exc)
        return
    with unit_of_work(ctx.engine) as session:
        if not packs.finish_build(session, version_id, owner=owner, key=stored.key, size_bytes=stored.size_bytes,
                                  sha256=stored.sha256 or None):
            log.warning("pack version %s finished after its lease was taken over", version_id)


def _write_pack(ctx: Context, tmp: Path, zip_path: Path, *, title: str, version: int, audience: str | None,
                sources: Sequence[TrackSource], intros: bool, on_progress: Callable[..., None]) -> None:
    from transcode.pack_names import display_title
    from transcode.pack_playlists import (
        PLAYLIST_LOCAL_NAME,
        PLAYLIST_UTF8_NAME,
        TABLE_OF_CONTENTS_NAME,
        PackSummary,
        PackTrack,
        album_title,
        playlist_local_bytes,
        playlist_utf8_bytes,
        table_of_contents_bytes,
    )
    from transcode.pack_tags import TrackTags, id3_tag_bytes, mpeg_audio_span
    from transcode.pack_zip import ZipEntry, write_stored_zip

    cover = _pack_cover(ctx, tmp, title, audience or "")
    album = album_title(title, version)
    total = len(sources)
    entries: list[ZipEntry] = []
    with ExitStack() as stack:
        editions = [stack.enter_context(ctx.storage.local_copy(src.edition_key)) for src in sources]
        joined = _joined_with_intros(ctx, stack, tmp, sources, editions, on_progress) if intros else None
        for i, (src, edition) in enumerate(zip(sources, editions, strict=True)):
            tag = id3_tag_bytes(TrackTags(
                title=display_title(src.title, src.n), artist=src.speaker or "", album=album, track_number=src.n,
                track_count=total, year=src.year or 0, genre=GENRE, cover_jpeg=cover, lyrics=src.lyrics or ""))
            audio: list[Piece] = joined[i] if joined is not None else [mpeg_audio_span(edition)]
            entries.append(ZipEntry(src.filename, [tag, *audio]))
        listed = [PackTrack(file_name=src.filename, title=src.title, speaker=src.speaker or "", branch=src.branch or "",
                            duration_s=src.duration_s) for src in sources]
        summary = PackSummary(title=title, version=version)
        entries += [ZipEntry(PLAYLIST_UTF8_NAME, [playlist_utf8_bytes(listed)]),
                    ZipEntry(PLAYLIST_LOCAL_NAME, [playlist_local_bytes(listed)]),
                    ZipEntry(TABLE_OF_CONTENTS_NAME, [table_of_contents_bytes(summary, listed)]),
                    ZipEntry(COVER_NAME, [cover])]
        base = INTRO_SHARE if intros else 0.0
        write_stored_zip(zip_path, entries, modified=ZIP_TIME,
                         on_progress=lambda done, whole: on_progress(base + (1 - base) * done / max(whole, 1)))
    on_progress(1.0, force=True)


def _pack_cover(ctx: Context, tmp: Path, title: str, audience: str) -> bytes:
    """One cover for every track: the pack's, drawn once and kept by what it shows (a rebuild draws nothing; a
    poster per track would cost an encode each)."""
    from transcode.pack_covers import draw_pack_cover

    digest = hashlib.sha256(json.dumps([COVER_FORMAT, title, audience], ensure_ascii=False).encode()).hexdigest()
    key = keys.pack_cover(digest)
    try:
        with ctx.storage.open(key) as f:
            return f.read()
    except ObjectMissing:
        pass
    drawn = draw_pack_cover(title, audience, tmp / "cover.jpg", ffmpeg_bin=ctx.settings.ffmpeg_bin)
    ctx.storage.put_if_absent(key, drawn, content_type="image/jpeg")
    return drawn.read_bytes()


def _joined_with_intros(ctx: Context, stack: ExitStack, tmp: Path, sources: Sequence[TrackSource],
                        editions: Sequence[Path], on_progress: Callable[..., None]) -> list[list[Piece]]:
    """Each track's audio as one Xing header, its intro's frames and the edition's frames (none re-encoded)."""
    from transcode.mp3_frames import join_with_intro, read_params
    from workers.pack_intros import make_intros, plan_intro

    planned = [plan_intro(ctx, number=src.n, title=src.title, speaker=src.speaker, branch=src.branch,
                          params=read_params(edition)) for src, edition in zip(sources, editions, strict=True)]
    missing = sum(1 for p in {p.key for p in planned} if not ctx.storage.exists(p))
    make_intros(ctx, tmp, planned, on_made=lambda made: on_progress(INTRO_SHARE * made / max(missing, 1)))
    return [join_with_intro(stack.enter_context(ctx.storage.local_copy(p.key)), edition)
            for p, edition in zip(planned, editions, strict=True)]


def sweep_packs(ctx: Context) -> dict[str, int]:
    """The beat's upkeep: enqueue builds whose worker died, start stale packs' next versions, delete superseded ZIPs
    past their time."""
    with unit_of_work(ctx.engine) as session:
        lost = packs.lost_builds(session)
        stale = [p.id or 0 for p in packs.stale_packs(session)]
        expired = [(v.id or 0, v.key) for v in packs.expired_versions(session)]
    for version_id in lost:
        log.warning("re-enqueueing pack version %s: its worker stopped", version_id)
        enqueue_build(ctx, version_id)
    rebuilt = sum(1 for pack_id in stale if rebuild_pack(ctx, pack_id) is not None)
    for version_id, key in expired:
        if key:
            ctx.storage.delete(key)
        with unit_of_work(ctx.engine) as session:
            version = session.get(AudioPackVersion, version_id)
            if version is not None:
                version.key = None
    return {"lost": len(lost), "rebuilt": rebuilt, "expired": len(expired)}


SYSTEM = Viewer(username="system", role=Role.ADMIN)


def make_quarterly_pack(ctx: Context, *, today: date | None = None) -> AudioPack | None:
    """The previous quarter's pack (2026年第3季度 党课随身听) with spoken intros, once, when its quarter is over and
    lessons were published in it; None when it exists or there is nothing to put in it."""
    quarter = packs.previous_quarter(today or datetime.now(packs.COUNTY_TZ).date())
    with unit_of_work(ctx.engine) as session:
        if packs.quarterly_pack(session, quarter) is not None:
            return None
    try:
        pack, _ = make_pack(ctx, SYSTEM, title=packs.quarterly_title(quarter), audience=packs.QUARTERLY_AUDIENCE,
                            selection={"quarter": quarter}, order="date", spoken_intros=True, quarter=quarter)
    except PackEmpty:
        return None
    except IntegrityError:  # another beat made it at the same moment
        return None
    log.info("made the quarterly pack %s for %s", pack.id, quarter)
    return pack
