"""Turn catalog rows into public schemas (URLs, nested names)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlmodel import Session, col, select

from api.schemas import (
    AssetPublic,
    CaptionsPublic,
    CategoryPublic,
    ErrorPublic,
    HistoryEntryPublic,
    JobPublic,
    LessonPublic,
    LessonRatingPublic,
    LessonSummary,
    NamedRef,
    ReviewPublic,
    ReviewReasonPublic,
    SeriesPublic,
    SeriesRef,
    SpeakerPublic,
    SpeakerRef,
    TimedNotePublic,
)
from catalog import captions as catalog_captions
from catalog.assets import list_assets
from catalog.audit import latest_decision, notes_of, reasons_of
from catalog.jobs import list_jobs
from catalog.lessons import lesson_facts
from catalog.lifecycle import JobFacts, ReviewAction, Viewer, caption_state, is_insider, may_see_similar
from catalog.models import Asset, AssetKind, AuditEntry, Category, Job, Lesson, Organisation, Series, Speaker
from catalog.ratings import rating_summary
from catalog.review import REVIEW_REASONS
from catalog.similar_index import possible_copy
from catalog.tags import tags_by_lesson, tags_of
from catalog.visibility import visible_clause


def asset_url(asset: Asset) -> str:
    if asset.kind == AssetKind.HLS:  # the master playlist, named so its relative names resolve beside it
        return f"/api/v1/assets/{asset.public_id}/content/master.m3u8"
    return f"/api/v1/assets/{asset.public_id}/content"


def asset_public(asset: Asset) -> AssetPublic:
    return AssetPublic(
        id=asset.public_id, kind=asset.kind, label=asset.label or None, url=asset_url(asset),
        mime_type=asset.mime_type,
        size_bytes=asset.size_bytes, sha256=asset.sha256, duration_s=asset.duration_s,
        width=asset.width, height=asset.height, bit_rate=asset.bit_rate,
    )


def _branch(session: Session, lesson: Lesson) -> NamedRef | None:
    org = session.get(Organisation, lesson.branch_id) if lesson.branch_id else None
    return NamedRef(id=org.id or 0, name=org.name) if org else None


def _category(session: Session, lesson: Lesson) -> CategoryPublic | None:
    cat = session.get(Category, lesson.category_id) if lesson.category_id else None
    return CategoryPublic(id=cat.id or 0, slug=cat.slug, name=cat.name) if cat else None


def speaker_photo_url(speaker: Speaker) -> str | None:
    """The photo's URL, naming its version (the key's digest), so that it can be cached for long."""
    if not speaker.photo_key:
        return None
    version = speaker.photo_key.rsplit("-", 1)[-1].removesuffix(".jpg")
    return f"/api/v1/speakers/{speaker.id}/photo?v={version}"


def speaker_ref(speaker: Speaker) -> SpeakerRef:
    return SpeakerRef(id=speaker.id or 0, name=speaker.name, title=speaker.title, photo_url=speaker_photo_url(speaker))


def speaker_public(speaker: Speaker, *, lesson_count: int = 0) -> SpeakerPublic:
    return SpeakerPublic(id=speaker.id or 0, name=speaker.name, title=speaker.title,
                         photo_url=speaker_photo_url(speaker), bio=speaker.bio, lesson_count=lesson_count,
                         created_at=speaker.created_at, updated_at=speaker.updated_at)


def series_public(series: Series, *, episode_count: int = 0) -> SeriesPublic:
    return SeriesPublic(id=series.id or 0, title=series.title, description=series.description,
                        episode_count=episode_count, created_at=series.created_at, updated_at=series.updated_at)


def _structure(session: Session, lesson: Lesson, tags: list[str] | None = None) -> dict[str, object]:
    """Where the lesson sits in the library (description, series and episode, speaker, tags, publication): a few
    primary-key lookups (the session's identity map serves repeats within a page) and, unless `tags` are given
    (a page's, read in one query), one query for the tags."""
    series = session.get(Series, lesson.series_id) if lesson.series_id else None
    speaker = session.get(Speaker, lesson.speaker_id) if lesson.speaker_id else None
    return {"description": lesson.description,
            "series": SeriesRef(id=series.id or 0, title=series.title) if series else None,
            "episode": lesson.episode if series else None,
            "speaker_ref": speaker_ref(speaker) if speaker else None,
            "tags": tags_of(session, lesson.id) if tags is None else tags, "published_at": lesson.published_at}


def _error(code: str | None, message: str | None) -> ErrorPublic | None:
    return ErrorPublic(code=code, message=message or "") if code else None


def lesson_public(session: Session, lesson: Lesson, viewer: Viewer, *, ratings_enabled: bool = False
                  ) -> LessonPublic:
    """A lesson as `viewer` may see it (the caller checked that they may): the public gets no original, checksum,
    uploaded file name or processing errors; those are for the lesson's branch, its township and the county. With
    `ratings_enabled` (the settings' WEIKE_RATINGS_ENABLED), its members' stars too."""
    jobs = list_jobs(session, lesson.id)
    facts = lesson_facts(session, lesson)
    insider = is_insider(viewer, facts)
    assets = [a for a in list_assets(session, lesson.id) if insider or a.kind != AssetKind.ORIGINAL]
    return LessonPublic(
        id=lesson.id, title=lesson.title, status=lesson.status, progress=lesson.progress,
        review_state=lesson.review_state, featured=lesson.featured, revision=lesson.revision,
        review=review_public(session, lesson) if insider else None,  # reviewers' comments stay inside
        error=_error(lesson.error_code, lesson.error_message) if insider else None, speaker=lesson.speaker,
        branch=_branch(session, lesson), category=_category(session, lesson),
        language=lesson.language, recorded_on=lesson.recorded_on, media_kind=lesson.media_kind,
        duration_s=lesson.duration_s, original_filename=lesson.original_filename if insider else None,
        size_bytes=lesson.size_bytes, sha256=lesson.original_sha256 if insider else None,
        created_at=lesson.created_at, updated_at=lesson.updated_at,
        assets=[asset_public(a) for a in assets],
        jobs=[JobPublic(step=j.step, state=j.state, progress=int(round(j.progress * 100)),
                        attempts=j.attempts, error=_error(j.error_code, j.error_message))
              for j in jobs] if insider else [],
        detected_language=lesson.detected_language, language_probability=lesson.language_probability,
        caption_version=lesson.caption_version, captions=captions_public(session, lesson, jobs, insider=insider),
        rating=lesson_rating_public(session, lesson.id) if ratings_enabled else None,
        possible_copy=(possible_copy(session, lesson, among=visible_clause(viewer))
                       if may_see_similar(viewer, facts) else None),
        **_structure(session, lesson),
    )


def lesson_rating_public(session: Session, lesson_id: str) -> LessonRatingPublic:
    summary = rating_summary(session, lesson_id)
    return LessonRatingPublic(average=summary.average, count=summary.count)


REVIEW_DECISIONS = tuple(a.value for a in ReviewAction)


def reason_refs(codes: list[str]) -> list[ReviewReasonPublic]:
    return [ReviewReasonPublic(code=c, label=REVIEW_REASONS.get(c, c)) for c in codes]


def review_public(session: Session, lesson: Lesson) -> ReviewPublic | None:
    entry = latest_decision(session, lesson.id, REVIEW_DECISIONS)
    if entry is None:
        return None
    return ReviewPublic(action=entry.action, reviewer=entry.actor, reasons=reason_refs(reasons_of(entry)),
                        comment=entry.comment, at=entry.at,
                        notes=[TimedNotePublic(at_s=n.at_s, text=n.text) for n in notes_of(entry)])


def history_entry_public(entry: AuditEntry) -> HistoryEntryPublic:
    return HistoryEntryPublic(at=entry.at, actor=entry.actor, action=entry.action, from_state=entry.from_state,
                              to_state=entry.to_state, reasons=reason_refs(reasons_of(entry)), comment=entry.comment,
                              notes=[TimedNotePublic(at_s=n.at_s, text=n.text) for n in notes_of(entry)])


def captions_public(session: Session, lesson: Lesson, jobs: list[Job], *, insider: bool) -> CaptionsPublic | None:
    """The captions' state (catalog/lifecycle.py) from their jobs and versions; None when the lesson gets none."""
    current = catalog_captions.current_version(session, lesson.id)
    counts = catalog_captions.segment_counts(session, lesson.id)
    state = caption_state([JobFacts(j.step, j.state) for j in jobs],
                          current_version=current.version if current else None,
                          current_segments=counts.get(current.version, 0) if current else 0)
    if state is None:
        return None
    failed = next((j for j in jobs if j.step in ("transcribe", "captions") and j.state == "failed"), None)
    reasons = catalog_captions.review_reasons(current) if current is not None else []
    return CaptionsPublic(
        state=state, version=lesson.caption_version,
        latest_version=current.version if current else None,
        source=current.source if current else None, needs_review=bool(reasons), review_reasons=reasons,
        error=_error(failed.error_code, failed.error_message) if failed and state == "failed" and insider else None,
    )


def lesson_summary(session: Session, lesson: Lesson) -> LessonSummary:
    return lesson_summaries(session, [lesson])[0]


def lesson_summaries(session: Session, lessons: Sequence[Lesson]) -> list[LessonSummary]:
    """Summaries of a page of lessons: one query each for their posters, tags, branches, categories, series and
    speakers, whatever the page's size (the rows read fill the session's identity map, which the per-lesson
    lookups then hit)."""
    ids = [lesson.id for lesson in lessons]
    held: list[object] = []  # the identity map holds rows weakly: these are kept until the summaries are made
    for model, attribute in ((Organisation, "branch_id"), (Category, "category_id"), (Series, "series_id"),
                             (Speaker, "speaker_id")):
        wanted = {value for lesson in lessons if (value := getattr(lesson, attribute)) is not None}
        if wanted:
            held += session.exec(select(model).where(col(model.id).in_(sorted(wanted)))).all()
    posters = {a.lesson_id: a for a in session.exec(
        select(Asset).where(col(Asset.lesson_id).in_(ids), Asset.kind == AssetKind.POSTER)).all()} if ids else {}
    tags = tags_by_lesson(session, ids)
    out = []
    for lesson in lessons:
        poster = posters.get(lesson.id)
        out.append(LessonSummary(
            id=lesson.id, title=lesson.title, status=lesson.status, progress=lesson.progress,
            review_state=lesson.review_state, featured=lesson.featured,
            speaker=lesson.speaker, branch=_branch(session, lesson), category=_category(session, lesson),
            language=lesson.language, media_kind=lesson.media_kind, duration_s=lesson.duration_s,
            created_at=lesson.created_at, poster_url=asset_url(poster) if poster else None,
            **_structure(session, lesson, tags=tags.get(lesson.id, [])),
        ))
    return out


_UNSAFE_IN_FILE_NAMES = re.compile(r'[\\/"\x00-\x1f\x7f]')


def download_filename(name: str) -> str:
    """A download's file name (Content-Disposition) as it reads, path separators, quotes and control characters
    replaced by "_" (titles are whatever the uploader typed)."""
    return _UNSAFE_IN_FILE_NAMES.sub("_", name)
