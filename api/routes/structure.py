"""The library's structure: speakers (讲师库) with their photos, series with their episodes, and tags. Reading is
public; creating and changing is for the county's reviewers and administrators, each change written to the audit
log (a lesson's own details are changed with PATCH /api/v1/lessons/{id}, in api/routes/lessons.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, UploadFile
from starlette.responses import Response

from api.deps import ContextDep, CurrentUser, SessionDep, StorageDep
from api.presenters import lesson_summary, series_public, speaker_public
from api.schemas import (
    ErrorPublic,
    SeriesCreate,
    SeriesDetail,
    SeriesPage,
    SeriesPublic,
    SeriesUpdate,
    SpeakerCreate,
    SpeakerPage,
    SpeakerPublic,
    SpeakerUpdate,
    TagPublic,
)
from catalog import series as catalog_series
from catalog import speakers as catalog_speakers
from catalog.db import unit_of_work
from catalog.errors import SpeakerNotFound
from catalog.tags import list_tags
from ingest.errors import ObjectMissing
from transcode.asr_text import to_simplified
from workers.speaker_photos import store_speaker_photo

router = APIRouter(prefix="/api/v1", tags=["library structure"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}, 404: {"model": ErrorPublic},
    409: {"model": ErrorPublic}, 413: {"model": ErrorPublic}, 422: {"model": ErrorPublic}}  # fmt: skip
PHOTO_CACHE = "public, max-age=31536000, immutable"  # a photo's URL names its version
PHOTO_CACHE_UNVERSIONED = "public, max-age=300"


# --- speakers ----------------------------------------------------------------------------------------------------

@router.get("/speakers", response_model=SpeakerPage)
def speakers(
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=100, description="part of the name or title")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SpeakerPage:
    """The lecturer pool, by name."""
    items, total = catalog_speakers.list_speakers(session, q=to_simplified(q) if q else None, offset=offset,
                                                  limit=limit)
    counts = catalog_speakers.lesson_counts(session, [s.id for s in items if s.id is not None])
    return SpeakerPage(items=[speaker_public(s, lesson_count=counts.get(s.id or 0, 0)) for s in items],
                       total=total, offset=offset, limit=limit)


@router.post("/speakers", status_code=201, response_model=SpeakerPublic, responses=ERRORS)
def create_speaker(body: SpeakerCreate, session: SessionDep, viewer: CurrentUser) -> SpeakerPublic:
    """Add a lecturer to the pool (reviewers and administrators)."""
    speaker = catalog_speakers.create_speaker(session, viewer, name=body.name, title=body.title, bio=body.bio)
    return speaker_public(speaker)


@router.get("/speakers/{speaker_id}", response_model=SpeakerPublic, responses=ERRORS)
def speaker_detail(speaker_id: int, session: SessionDep) -> SpeakerPublic:
    speaker = catalog_speakers.get_speaker(session, speaker_id)
    return speaker_public(speaker, lesson_count=catalog_speakers.lesson_counts(session, [speaker_id]).get(speaker_id, 0))


@router.patch("/speakers/{speaker_id}", response_model=SpeakerPublic, responses=ERRORS)
def update_speaker(speaker_id: int, body: SpeakerUpdate, session: SessionDep, viewer: CurrentUser) -> SpeakerPublic:
    """Change name, title or bio; a new name goes onto the speaker's lessons and into search."""
    speaker = catalog_speakers.get_speaker(session, speaker_id)
    catalog_speakers.update_speaker(session, speaker, viewer, changes=body.model_dump(exclude_unset=True))
    return speaker_public(speaker, lesson_count=catalog_speakers.lesson_counts(session, [speaker_id]).get(speaker_id, 0))


@router.put("/speakers/{speaker_id}/photo", response_model=SpeakerPublic, responses=ERRORS)
def put_speaker_photo(speaker_id: int, file: Annotated[UploadFile, File(description="JPEG, PNG or WebP, up to 5 MB")],
                      ctx: ContextDep, viewer: CurrentUser) -> SpeakerPublic:
    """Set the speaker's photo: it is re-encoded into a 256-pixel-wide JPEG, never served as uploaded."""
    store_speaker_photo(ctx, speaker_id, file.file, viewer)
    with unit_of_work(ctx.engine) as session:  # what was just committed, not this request's earlier snapshot
        speaker = catalog_speakers.get_speaker(session, speaker_id)
        counts = catalog_speakers.lesson_counts(session, [speaker_id])
        return speaker_public(speaker, lesson_count=counts.get(speaker_id, 0))


@router.get("/speakers/{speaker_id}/photo", response_class=Response, responses={
    200: {"content": {"image/jpeg": {}}, "description": "the photo (JPEG)"}, 404: {"model": ErrorPublic}})
def speaker_photo(speaker_id: int, session: SessionDep, storage: StorageDep, v: str | None = None) -> Response:
    """The speaker's photo, for everybody; with `v` (as in `photo_url`) cacheable for a year."""
    speaker = catalog_speakers.get_speaker(session, speaker_id)
    if not speaker.photo_key:
        raise SpeakerNotFound(f"speaker {speaker_id} has no photo", message="这位讲师还没有照片")
    try:
        with storage.open(speaker.photo_key) as fh:
            data = fh.read()
    except ObjectMissing as exc:
        raise SpeakerNotFound(f"photo {speaker.photo_key} missing", message="这位讲师还没有照片") from exc
    version = speaker.photo_key.rsplit("-", 1)[-1].removesuffix(".jpg")
    return Response(data, media_type="image/jpeg", headers={
        "ETag": f'"{version}"', "Cache-Control": PHOTO_CACHE if v == version else PHOTO_CACHE_UNVERSIONED})


# --- series ------------------------------------------------------------------------------------------------------

@router.get("/series", response_model=SeriesPage)
def series_list(session: SessionDep, offset: Annotated[int, Query(ge=0)] = 0,
                limit: Annotated[int, Query(ge=1, le=500)] = 100) -> SeriesPage:
    """Series, newest first, with how many published episodes each has."""
    items, total = catalog_series.list_series(session, offset=offset, limit=limit)
    counts = catalog_series.episode_counts(session, [s.id for s in items if s.id is not None])
    return SeriesPage(items=[series_public(s, episode_count=counts.get(s.id or 0, 0)) for s in items],
                      total=total, offset=offset, limit=limit)


@router.post("/series", status_code=201, response_model=SeriesPublic, responses=ERRORS)
def create_series(body: SeriesCreate, session: SessionDep, viewer: CurrentUser) -> SeriesPublic:
    """Start a series (reviewers and administrators); lessons join it with PATCH /api/v1/lessons/{id}."""
    return series_public(catalog_series.create_series(session, viewer, title=body.title,
                                                      description=body.description))


def _series_detail(session: SessionDep, series_id: int) -> SeriesDetail:
    series = catalog_series.get_series(session, series_id)
    episodes = catalog_series.published_episodes(session, series_id)
    return SeriesDetail(**series_public(series, episode_count=len(episodes)).model_dump(),
                        episodes=[lesson_summary(session, lesson) for lesson in episodes])


@router.get("/series/{series_id}", response_model=SeriesDetail, responses=ERRORS)
def series_detail(series_id: int, session: SessionDep) -> SeriesDetail:
    """The series with its published episodes in order."""
    return _series_detail(session, series_id)


@router.patch("/series/{series_id}", response_model=SeriesDetail, responses=ERRORS)
def update_series(series_id: int, body: SeriesUpdate, session: SessionDep, viewer: CurrentUser) -> SeriesDetail:
    """Change title or description; a new title goes into search for the series' lessons."""
    series = catalog_series.get_series(session, series_id)
    catalog_series.update_series(session, series, viewer, changes=body.model_dump(exclude_unset=True))
    return _series_detail(session, series_id)


# --- tags --------------------------------------------------------------------------------------------------------

@router.get("/tags", response_model=list[TagPublic])
def tags(session: SessionDep,
         prefix: Annotated[str | None, Query(max_length=32, description="tags starting with this")] = None,
         limit: Annotated[int, Query(ge=1, le=500)] = 200) -> list[TagPublic]:
    """Tags of published lessons, most used first."""
    found = list_tags(session, prefix=to_simplified(prefix.strip()).lower() if prefix else None, limit=limit)
    return [TagPublic(name=name, lesson_count=count) for name, count in found]
