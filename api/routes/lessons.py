"""Lessons: upload, list, detail, and the bytes of their assets."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from fastapi.responses import FileResponse, RedirectResponse
from starlette.responses import Response as StarletteResponse

from api.deps import ContextDep, SessionDep, SettingsDep, StorageDep
from api.presenters import lesson_public, lesson_summary, query_terms
from api.schemas import ErrorPublic, LanguageCode, LessonPage, LessonPublic
from catalog.assets import get_asset
from catalog.errors import AssetNotFound, LessonNotFound, UnknownCategory
from catalog.lessons import LessonFields, get_lesson, list_lessons
from catalog.models import AssetKind
from catalog.organisations import find_category
from workers.intake import admit_stream, title_from_filename

router = APIRouter(prefix="/api/v1", tags=["lessons"])

ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": ErrorPublic}, 404: {"model": ErrorPublic}, 413: {"model": ErrorPublic},
          422: {"model": ErrorPublic}}


@router.post("/lessons", status_code=201, response_model=LessonPublic, responses={
    200: {"model": LessonPublic, "description": "the same bytes were uploaded before: the existing lesson"},
    **ERRORS})
def upload_lesson(
    response: Response,
    ctx: ContextDep,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="the lesson's video or audio file")],
    title: Annotated[str | None, Form(max_length=200)] = None,
    branch: Annotated[str | None, Form(max_length=200)] = None,
    category: Annotated[str | None, Form(max_length=64)] = None,
    speaker: Annotated[str | None, Form(max_length=100)] = None,
    recorded_on: Annotated[date | None, Form()] = None,
    language: Annotated[LanguageCode, Form()] = "zh",
) -> LessonPublic:
    """Upload a lesson file; processing starts in the background (poll the lesson for progress)."""
    fields = LessonFields(title=(title or "").strip() or title_from_filename(file.filename), branch=branch,
                          category=category, speaker=speaker, recorded_on=recorded_on, language=language)
    if fields.category and find_category(session, fields.category) is None:
        # Refuse before storing anything.
        raise UnknownCategory(f"category {fields.category!r}")
    admitted = admit_stream(ctx, file.file, filename=file.filename, fields=fields)
    if not admitted.created:
        response.status_code = 200
    lesson = get_lesson(session, admitted.lesson.id)
    assert lesson is not None
    return lesson_public(session, lesson)


@router.get("/lessons", response_model=LessonPage)
def browse_lessons(
    session: SessionDep,
    category: str | None = None,
    branch_id: int | None = None,
    status: Annotated[str | None, Query(pattern="^(queued|processing|ready|failed)$")] = None,
    language: LanguageCode | None = None,
    q: Annotated[str | None, Query(max_length=100, description="words in the title, speaker or captions")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> LessonPage:
    category_id = None
    if category:
        found = find_category(session, category)
        if found is None:
                raise UnknownCategory(f"category {category!r}")
        category_id = found.id
    items, total = list_lessons(session, category_id=category_id, branch_id=branch_id, status=status,
                                language=language, terms=query_terms(q), offset=offset, limit=limit)
    return LessonPage(items=[lesson_summary(session, lesson) for lesson in items], total=total, offset=offset,
                      limit=limit)


@router.get("/lessons/{lesson_id}", response_model=LessonPublic, responses=ERRORS)
def lesson_detail(lesson_id: str, session: SessionDep) -> LessonPublic:
    lesson = get_lesson(session, lesson_id)
    if lesson is None:
        raise LessonNotFound(lesson_id)
    return lesson_public(session, lesson)


_KIND_SUFFIXES = {AssetKind.AUDIO_EDITION: "-随身听", AssetKind.OPEN_CAPTIONS: "-字幕版", AssetKind.TRANSCRIPT: "-文字稿"}
_EXTENSIONS = {"video/mp4": ".mp4", "audio/mpeg": ".mp3", "image/jpeg": ".jpg", "audio/mp4": ".m4a",
               "audio/wav": ".wav", "audio/amr": ".amr", "text/vtt": ".vtt", "application/x-subrip": ".srt",
               "application/json": ".json"}


@router.get("/assets/{asset_id}/content", responses=ERRORS, response_class=StarletteResponse)
def asset_content(asset_id: int, session: SessionDep, storage: StorageDep, settings: SettingsDep,
                  download: bool = False) -> StarletteResponse:
    """The asset's bytes (HTTP Range supported), or a redirect to a short-lived presigned URL."""
    asset = get_asset(session, asset_id)
    lesson = get_lesson(session, asset.lesson_id) if asset else None
    if asset is None or lesson is None:
        raise AssetNotFound(str(asset_id))
    suffix = f"-{asset.label}" if asset.label else _KIND_SUFFIXES.get(AssetKind(asset.kind), "")
    ext = _EXTENSIONS.get(asset.mime_type, "")
    if asset.kind == AssetKind.ORIGINAL and lesson.original_filename and "." in lesson.original_filename:
        ext = "." + lesson.original_filename.rsplit(".", 1)[1]
    name = f"{lesson.title}{suffix}{ext}".replace("/", "_").replace("\\", "_")
    path = storage.local_path(asset.key)
    if path is not None:
        if not path.is_file():
            raise AssetNotFound(asset.key)
        return FileResponse(path, media_type=asset.mime_type, filename=name,
                            content_disposition_type="attachment" if download else "inline")
    url = storage.presigned_url(asset.key, expires_s=settings.presigned_url_expires_s,
                                download_name=name if download else None, content_type=asset.mime_type)
    if url is None:
        raise AssetNotFound(asset.key)
    return RedirectResponse(url, status_code=307)
