"""Lessons: upload, list, detail, and the bytes of their assets, each as the caller may see them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from sqlmodel import Session
from starlette.responses import Response as StarletteResponse

from api.deps import ContextDep, CurrentUser, SessionDep, SettingsDep, StorageDep, ViewerDep
from api.presentation_files import MASTER_NAME, content_type, presentation_key, stored_file
from api.presenters import download_filename, lesson_public, lesson_summaries
from api.routes.popularity import count_download
from api.schemas import (
    ErrorPublic,
    LanguageCode,
    LessonCreate,
    LessonDetailsUpdate,
    LessonPage,
    LessonPublic,
    ReviewStateName,
)
from catalog.assets import get_asset
from catalog.errors import AlreadyUploaded, AssetNotFound, Forbidden, LessonNotFound
from catalog.lesson_details import update_lesson_details
from catalog.lessons import LessonFields, get_lesson, lesson_facts, list_lessons, upload_branch_id
from catalog.library import lesson_order
from catalog.lifecycle import Viewer, can_see, is_insider, may_upload
from catalog.models import AssetKind, Lesson
from catalog.organisations import category_id_for
from transcode.asr_text import to_simplified
from workers.intake import admit_stream, title_from_filename

router = APIRouter(prefix="/api/v1", tags=["lessons"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorPublic}, 401: {"model": ErrorPublic}, 403: {"model": ErrorPublic},
    404: {"model": ErrorPublic}, 409: {"model": ErrorPublic}, 413: {"model": ErrorPublic},
    422: {"model": ErrorPublic}}  # fmt: skip


def visible_lesson(session: Session, lesson_id: str, viewer: Viewer) -> Lesson:
    """The lesson if `viewer` may see it; otherwise LessonNotFound, exactly as for a lesson that does not exist."""
    lesson = get_lesson(session, lesson_id)
    if lesson is None or not can_see(viewer, lesson_facts(session, lesson)):
        raise LessonNotFound(lesson_id)
    return lesson


def insider_lesson(session: Session, lesson_id: str, viewer: Viewer, *, what: str,
                   message: str | None = None) -> Lesson:
    """The lesson if `viewer` is one of its own people (its branch, its township, the county: catalog/lifecycle.py's
    `is_insider`) for reading `what` of it; 404 as `visible_lesson` when they may not see it, else Forbidden."""
    lesson = visible_lesson(session, lesson_id, viewer)
    if not is_insider(viewer, lesson_facts(session, lesson)):
        raise Forbidden(f"{viewer.username} may not see {what} of {lesson_id}", message=message)
    return lesson


@router.post("/lessons", status_code=201, response_model=LessonPublic, responses={
    200: {"model": LessonPublic, "description": "the same bytes were uploaded before: the existing lesson"},
    **ERRORS})
def upload_lesson(response: Response, ctx: ContextDep, session: SessionDep, viewer: CurrentUser,
                  form: Annotated[LessonCreate, Form()]) -> LessonPublic:
    """Upload a lesson file; processing starts in the background (poll the lesson for progress)."""
    if not may_upload(viewer):
        raise Forbidden(f"{viewer.username} ({viewer.role}) may not upload", message="该账号没有上传权限")
    branch_id = upload_branch_id(session, viewer, form.branch)
    category_id_for(session, form.category)  # an unknown one is refused before anything is stored
    fields = LessonFields(title=(form.title or "").strip() or title_from_filename(form.file.filename),
                          branch=form.branch, category=form.category, speaker=form.speaker, recorded_on=form.recorded_on,
                          language=form.language)
    admitted = admit_stream(ctx, form.file.file, filename=form.file.filename, fields=fields,
                            uploaded_by_id=viewer.account_id, branch_id=branch_id)
    lesson = get_lesson(session, admitted.lesson.id)
    assert lesson is not None
    if not admitted.created:
        if not can_see(viewer, lesson_facts(session, lesson)):
            raise AlreadyUploaded(f"{viewer.username} re-uploaded lesson {lesson.id} of another branch")
        response.status_code = 200
    return lesson_public(session, lesson, viewer)


@router.get("/lessons", response_model=LessonPage, responses=ERRORS)
def browse_lessons(
    session: SessionDep,
    viewer: ViewerDep,
    category: str | None = None,
    branch_id: int | None = None,
    status: Annotated[str | None, Query(pattern="^(queued|processing|ready|failed)$")] = None,
    review_state: ReviewStateName | None = None,
    mine: Annotated[bool, Query(description="only the lessons the caller uploaded")] = False,
    language: LanguageCode | None = None,
    q: Annotated[str | None, Query(max_length=100, description="words in the title, speaker or captions")] = None,
    sort: Annotated[str | None, Query(pattern="^(newest|popular|featured)$", description=(
        "newest published first, popular (plays and downloads over 30 days), featured first; by default the "
        "newest uploaded first"))] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> LessonPage:
    """The lessons the caller may see (the public: published ones), newest first."""
    category_id = category_id_for(session, category)
    if mine and viewer.account_id is None:
        return LessonPage(items=[], total=0, offset=offset, limit=limit)
    items, total = list_lessons(session, viewer=viewer, uploaded_by_id=viewer.account_id if mine else None,
                                review_state=review_state, category_id=category_id, branch_id=branch_id,
                                status=status, language=language, query=to_simplified(q) if q else None,
                                order=lesson_order(sort) if sort else (), offset=offset, limit=limit)
    return LessonPage(items=lesson_summaries(session, items), total=total, offset=offset,
                      limit=limit)


@router.get("/lessons/{lesson_id}", response_model=LessonPublic, responses=ERRORS)
def lesson_detail(lesson_id: str, session: SessionDep, viewer: ViewerDep, settings: SettingsDep) -> LessonPublic:
    return lesson_public(session, visible_lesson(session, lesson_id, viewer), viewer,
                         ratings_enabled=settings.ratings_enabled)


@router.patch("/lessons/{lesson_id}", response_model=LessonPublic, responses=ERRORS)
def update_lesson(lesson_id: str, body: LessonDetailsUpdate, session: SessionDep, viewer: CurrentUser
                  ) -> LessonPublic:
    """Change title, description, tags (the county; the lesson's branch until it is published), speaker, series and
    episode (the county); only the fields sent change, null clears. Written to the lesson's history."""
    lesson = visible_lesson(session, lesson_id, viewer)
    update_lesson_details(session, lesson, viewer, changes=body.model_dump(exclude_unset=True), variant=to_simplified)
    return lesson_public(session, lesson, viewer)


_KIND_SUFFIXES = {AssetKind.AUDIO_EDITION: "-随身听", AssetKind.OPEN_CAPTIONS: "-字幕版", AssetKind.TRANSCRIPT: "-文字稿"}
_EXTENSIONS = {"video/mp4": ".mp4", "audio/mpeg": ".mp3", "image/jpeg": ".jpg", "audio/mp4": ".m4a",
               "audio/wav": ".wav", "audio/amr": ".amr", "text/vtt": ".vtt", "application/x-subrip": ".srt",
               "application/json": ".json"}
# What our own pipeline makes may play inline with its type; anything else (the original above all: its bytes and
# its name are the uploader's) only ever downloads, as bytes, so no upload can run as a page on this origin.
ORIGINAL_TYPE = "application/octet-stream"


@router.get("/assets/{asset_id}/content", responses=ERRORS, response_class=StarletteResponse)
def asset_content(asset_id: str, request: Request, session: SessionDep, storage: StorageDep, settings: SettingsDep,
                  viewer: ViewerDep, download: bool = False) -> StarletteResponse:
    """The asset's bytes (HTTP Range supported), or a redirect to a short-lived presigned URL."""
    asset = get_asset(session, asset_id)
    lesson = get_lesson(session, asset.lesson_id) if asset else None
    facts = lesson_facts(session, lesson) if lesson else None
    if asset is None or lesson is None or facts is None or not can_see(viewer, facts):
        raise AssetNotFound(asset_id)
    original = asset.kind == AssetKind.ORIGINAL
    if original and not is_insider(viewer, facts):
        raise AssetNotFound(asset_id)  # never public: phones write GPS positions into their files
    if asset.kind == AssetKind.HLS:  # its playlists name their files relative to the presentation's own URL
        return RedirectResponse(f"/api/v1/assets/{asset.public_id}/content/{MASTER_NAME}", status_code=307)
    if download:
        count_download(session, request, lesson, asset)  # popularity (catalog/popularity.py)
    suffix = f"-{asset.label}" if asset.label else _KIND_SUFFIXES.get(AssetKind(asset.kind), "")
    ext = _EXTENSIONS.get(asset.mime_type, "")
    if original and lesson.original_filename and "." in lesson.original_filename:
        ext = "." + lesson.original_filename.rsplit(".", 1)[1][:10]
    name = download_filename(f"{lesson.title}{suffix}{ext}")
    media_type = ORIGINAL_TYPE if original else asset.mime_type
    attachment = download or original
    path = storage.local_path(asset.key)
    if path is not None:
        if not path.is_file():
            raise AssetNotFound(asset.key)
        return FileResponse(path, media_type=media_type, filename=name,
                            content_disposition_type="attachment" if attachment else "inline")
    url = storage.presigned_url(asset.key, expires_s=settings.presigned_url_expires_s,
                                download_name=name if attachment else None, content_type=media_type)
    if url is None:
        raise AssetNotFound(asset.key)
    return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})


@router.get("/assets/{asset_id}/content/{name}", responses=ERRORS, response_class=StarletteResponse)
def asset_presentation_file(asset_id: str, name: str, request: Request, session: SessionDep, storage: StorageDep,
                            viewer: ViewerDep) -> StarletteResponse:
    """A file of an HLS presentation (kind `hls`), by its name in the playlists; `master.m3u8` is the current master
    playlist. Range supported; only for a lesson the caller may see, as for the asset itself."""
    asset = get_asset(session, asset_id)
    lesson = get_lesson(session, asset.lesson_id) if asset else None
    if asset is None or lesson is None or asset.kind != AssetKind.HLS or not can_see(viewer, lesson_facts(session, lesson)):
        raise AssetNotFound(asset_id)
    return stored_file(storage, presentation_key(asset.key, name), media_type=content_type(name),
                       request_headers=request.headers)
