"""Captions: a lesson's transcript, its version history, and reviewers' corrections."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlmodel import Session

from api.deps import ContextDep, CurrentUser, SessionDep, ViewerDep
from api.errors import ApiError
from api.routes.lessons import insider_lesson, visible_lesson
from api.schemas import (
    CaptionEditCreate,
    CaptionHistoryPublic,
    CaptionVersionPublic,
    ErrorPublic,
    TranscriptHitPublic,
    TranscriptPublic,
    TranscriptSearchPage,
    TranscriptSegmentPublic,
)
from catalog import captions as catalog_captions
from catalog.db import unit_of_work
from catalog.errors import TranscriptNotFound
from catalog.lessons import lesson_facts
from catalog.lifecycle import is_insider
from catalog.models import CaptionVersion, Lesson
from catalog.search import search_segments
from transcode.asr_text import to_simplified
from workers.caption_edits import save_edited_captions

router = APIRouter(prefix="/api/v1", tags=["captions"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}, 404: {"model": ErrorPublic},
    409: {"model": ErrorPublic}, 422: {"model": ErrorPublic}}  # fmt: skip


def transcript_public(session: Session, lesson: Lesson, version: CaptionVersion, *, insider: bool
                      ) -> TranscriptPublic:
    """The version's segments; who edited it and their note only for the lesson's own people (`insider`)."""
    assert version.id is not None
    reasons = catalog_captions.review_reasons(version)
    return TranscriptPublic(
        lesson_id=lesson.id, version=version.version, source=version.source,
        author=version.author if insider else None, note=version.note if insider else None,
        created_at=version.created_at, language=version.language,
        detected_language=version.detected_language, language_probability=version.language_probability,
        engine=version.engine, model=version.model, needs_review=bool(reasons), review_reasons=reasons,
        published_version=lesson.caption_version,
        segments=[TranscriptSegmentPublic(position=s.position, start_s=s.start_s, end_s=s.end_s, text=s.text,
                                          confidence=s.confidence, low_confidence=s.low_confidence)
                  for s in catalog_captions.list_segments(session, version.id)],
    )  # fmt: skip


@router.get("/lessons/{lesson_id}/transcript", response_model=TranscriptPublic, responses=ERRORS)
def lesson_transcript(lesson_id: str, session: SessionDep, viewer: ViewerDep,
                      version: int | None = Query(default=None, ge=1, description="default: the current one")
                      ) -> TranscriptPublic:
    """The transcript's timed segments (current version unless `version`), with low-confidence flags."""
    lesson = visible_lesson(session, lesson_id, viewer)
    insider = is_insider(viewer, lesson_facts(session, lesson))
    if insider:
        found = (catalog_captions.current_version(session, lesson_id) if version is None
                 else catalog_captions.get_version(session, lesson_id, version))
    elif version in (None, lesson.caption_version) and lesson.caption_version is not None:
        # Everyone else reads the published version only: not a draft, nor an earlier revision's words.
        found = catalog_captions.get_version(session, lesson_id, lesson.caption_version)
    else:
        found = None
    if found is None:
        raise TranscriptNotFound(f"{lesson_id} version {version}")
    return transcript_public(session, lesson, found, insider=insider)


@router.get("/lessons/{lesson_id}/captions/versions", response_model=CaptionHistoryPublic, responses=ERRORS)
def caption_history(lesson_id: str, session: SessionDep, viewer: CurrentUser) -> CaptionHistoryPublic:
    """Every caption version, oldest first: automatic (speech recognition) and edited (author, time, note). For
    the lesson's branch, its township and the county."""
    lesson = insider_lesson(session, lesson_id, viewer, what="caption versions",
                            message="只有本支部、本乡镇和县里的账号可以查看字幕的各个版本")
    counts = catalog_captions.segment_counts(session, lesson_id)
    return CaptionHistoryPublic(lesson_id=lesson.id, published_version=lesson.caption_version, versions=[
        CaptionVersionPublic(
            version=v.version, source=v.source, author=v.author, note=v.note, created_at=v.created_at,
            language=v.language, engine=v.engine, model=v.model, segment_count=counts.get(v.version, 0),
            review_reasons=catalog_captions.review_reasons(v), published=v.version == lesson.caption_version)
        for v in catalog_captions.list_versions(session, lesson_id)])  # fmt: skip


@router.post("/lessons/{lesson_id}/captions", status_code=201, response_model=TranscriptPublic, responses=ERRORS)
def edit_captions(lesson_id: str, body: CaptionEditCreate, ctx: ContextDep, viewer: CurrentUser
                  ) -> TranscriptPublic:
    """Store corrected segments as a new version (its author: the caller's account); subtitles, muxed renditions
    and open captions are remade. Reviewers may edit any lesson's captions, a branch its own until published."""
    with unit_of_work(ctx.engine) as session:
        visible_lesson(session, lesson_id, viewer)  # 404 as for a missing lesson; who may edit: decided on saving
    assert viewer.username is not None
    saved = save_edited_captions(ctx, lesson_id, segments=[s.model_dump() for s in body.segments],
                                 author=viewer.username, note=body.note, base_version=body.base_version,
                                 editor=viewer)
    with unit_of_work(ctx.engine) as session:
        lesson = visible_lesson(session, lesson_id, viewer)
        version = catalog_captions.get_version(session, lesson_id, saved.version)
        assert version is not None
        return transcript_public(session, lesson, version, insider=True)


@router.get("/transcripts/search", response_model=TranscriptSearchPage)
def search_transcripts(
    session: SessionDep,
    viewer: ViewerDep,
    q: Annotated[str, Query(min_length=1, max_length=100, description="words the lesson says")],
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TranscriptSearchPage:
    """Where lessons say something: every matching caption segment of the published captions, with its time."""
    if not q.strip():
        raise ApiError(422, "invalid_request", "请输入要搜索的词", "blank search")
    hits, total = search_segments(session, to_simplified(q), viewer=viewer, offset=offset,
                                  limit=limit)
    return TranscriptSearchPage(items=[TranscriptHitPublic(**vars(hit)) for hit in hits], total=total,
                                offset=offset, limit=limit)
