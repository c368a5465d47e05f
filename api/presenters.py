"""Turn catalog rows into public schemas (URLs, nested names)."""

from __future__ import annotations

from sqlmodel import Session

from api.schemas import (
    AssetPublic,
    CaptionsPublic,
    CategoryPublic,
    ErrorPublic,
    JobPublic,
    LessonPublic,
    LessonSummary,
    NamedRef,
)
from catalog import captions as catalog_captions
from catalog.assets import list_assets
from catalog.captions import SearchTerm, search_terms
from catalog.jobs import list_jobs
from catalog.models import Asset, AssetKind, Category, Job, JobState, Lesson, Organisation
from transcode.asr_text import to_simplified


def asset_url(asset: Asset) -> str:
    return f"/api/v1/assets/{asset.id}/content"


def asset_public(asset: Asset) -> AssetPublic:
    return AssetPublic(
        id=asset.id or 0, kind=asset.kind, label=asset.label or None, url=asset_url(asset),
        mime_type=asset.mime_type, size_bytes=asset.size_bytes, sha256=asset.sha256, duration_s=asset.duration_s,
        width=asset.width, height=asset.height, bit_rate=asset.bit_rate,
    )


def _branch(session: Session, lesson: Lesson) -> NamedRef | None:
    org = session.get(Organisation, lesson.branch_id) if lesson.branch_id else None
    return NamedRef(id=org.id or 0, name=org.name) if org else None


def _category(session: Session, lesson: Lesson) -> CategoryPublic | None:
    cat = session.get(Category, lesson.category_id) if lesson.category_id else None
    return CategoryPublic(id=cat.id or 0, slug=cat.slug, name=cat.name) if cat else None


def _error(code: str | None, message: str | None) -> ErrorPublic | None:
    return ErrorPublic(code=code, message=message or "") if code else None


def lesson_public(session: Session, lesson: Lesson) -> LessonPublic:
    jobs = list_jobs(session, lesson.id)
    return LessonPublic(
        id=lesson.id, title=lesson.title, status=lesson.status, progress=lesson.progress,
        error=_error(lesson.error_code, lesson.error_message), speaker=lesson.speaker,
        branch=_branch(session, lesson), category=_category(session, lesson),
        language=lesson.language, recorded_on=lesson.recorded_on, media_kind=lesson.media_kind,
        duration_s=lesson.duration_s, original_filename=lesson.original_filename, size_bytes=lesson.size_bytes,
        sha256=lesson.original_sha256, created_at=lesson.created_at, updated_at=lesson.updated_at,
        assets=[asset_public(a) for a in list_assets(session, lesson.id)],
        jobs=[JobPublic(step=j.step, state=j.state, progress=int(round(j.progress * 100)),
                        attempts=j.attempts, error=_error(j.error_code, j.error_message))
              for j in jobs],
        detected_language=lesson.detected_language, language_probability=lesson.language_probability,
        caption_version=lesson.caption_version, captions=captions_public(session, lesson, jobs),
    )


CAPTION_STEPS = ("transcribe", "captions")


def captions_public(session: Session, lesson: Lesson, jobs: list[Job]) -> CaptionsPublic | None:
    """The captions' state from their jobs and versions; None when the lesson gets no captions."""
    caption_jobs = [j for j in jobs if j.step in CAPTION_STEPS]
    current = catalog_captions.current_version(session, lesson.id)
    if not caption_jobs and current is None:
        return None
    # A recognition failure stops mattering once a reviewer has typed the captions (a version exists).
    failed = next((j for j in caption_jobs if j.state == JobState.FAILED
                   and (j.step != "transcribe" or current is None)), None)
    counts = catalog_captions.segment_counts(session, lesson.id)
    if failed is not None:
        state = "failed"
    elif any(j.state in (JobState.PENDING, JobState.RUNNING) for j in caption_jobs):
        state = "processing"
    elif current is None:
        return None  # skipped: the lesson itself failed
    else:
        state = "ready" if counts.get(current.version, 0) else "empty"
    reasons = catalog_captions.review_reasons(current) if current is not None else []
    return CaptionsPublic(
        state=state, version=lesson.caption_version, latest_version=current.version if current else None,
        source=current.source if current else None, needs_review=bool(reasons), review_reasons=reasons,
        error=_error(failed.error_code, failed.error_message) if failed else None,
    )


def lesson_summary(session: Session, lesson: Lesson) -> LessonSummary:
    poster = next((a for a in list_assets(session, lesson.id) if a.kind == AssetKind.POSTER), None)
    return LessonSummary(
        id=lesson.id, title=lesson.title, status=lesson.status, progress=lesson.progress,
        speaker=lesson.speaker, branch=_branch(session, lesson), category=_category(session, lesson),
        language=lesson.language, media_kind=lesson.media_kind, duration_s=lesson.duration_s,
        created_at=lesson.created_at, poster_url=asset_url(poster) if poster else None,
    )


def query_terms(q: str | None) -> list[SearchTerm]:
    """A search box's words: each must match, as typed or in Simplified Chinese (captions are kept Simplified, and
    a user of a Traditional-Chinese keyboard types 稻穀 for 稻谷)."""
    return search_terms(q or "", variant=to_simplified)
