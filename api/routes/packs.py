"""Audio packs (党课随身听): ZIPs of published lessons' audio editions for small offline players.

Packs hold only published lessons, so anyone may list them and download a ready one; the county's staff and the
townships' organisers make them. The download answers Range (a phone on a weak signal resumes) with an ETag per
version, and HEAD gives the size before the download starts.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse
from sqlmodel import Session
from starlette.responses import Response

from api.deps import ContextDep, CurrentUser, SessionDep, SettingsDep, StorageDep
from api.pack_schemas import PackCreate, PackPage, PackPublic, PackTrackPublic, PackVersionPublic
from api.presenters import download_filename
from api.schemas import ErrorPublic
from catalog import packs
from catalog.errors import Forbidden, PackNotFound, PackNotReady
from catalog.lifecycle import may_make_packs
from catalog.models import AudioPack, AudioPackVersion, PackStatus
from workers.packs import make_pack, rebuild_pack

router = APIRouter(prefix="/api/v1", tags=["audio packs"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}, 404: {"model": ErrorPublic},
    409: {"model": ErrorPublic}, 422: {"model": ErrorPublic}}  # fmt: skip


def _download_url(pack_id: int, version: int) -> str:
    return f"/api/v1/packs/{pack_id}/download?version={version}"


def pack_public(session: Session, pack: AudioPack, newest: AudioPackVersion | None) -> PackPublic:
    """The pack as anyone may see it: its newest version's tracks, less any lesson no longer in the library (a
    version holding a withdrawn lesson is not downloadable either: catalog/packs.py's `withdraw_from_packs`)."""
    downloadable = packs.downloadable_versions(session, pack)
    ready = newest is not None and any(v.id == newest.id for v in downloadable)
    error = ({"code": newest.error_code, "message": newest.error_message or ""}
             if newest is not None and newest.status == PackStatus.FAILED and newest.error_code else None)
    tracks = packs.version_tracks(session, newest.id or 0) if newest is not None else []
    published = packs.published_lesson_ids(session, [t.lesson_id for t in tracks if t.lesson_id])
    shown = [t for t in tracks if t.lesson_id in published]
    return PackPublic(
        id=pack.id or 0, title=pack.title, audience=pack.audience, order=pack.track_order,
        spoken_intros=pack.spoken_intros, selection=json.loads(pack.selection_json) if pack.selection_json else None,
        version=pack.version, status=newest.status if newest else PackStatus.BUILDING,
        progress=newest.progress if newest else 0, error=error, stale=pack.stale,
        size_bytes=newest.size_bytes if newest and ready else 0,
        duration_s=round(sum(t.duration_s for t in shown), 3),  # the version's own figure while all are shown
        tracks=[PackTrackPublic(n=t.n, lesson_id=t.lesson_id, filename=t.filename, title=t.title,
                                duration_s=t.duration_s) for t in shown],
        download_url=_download_url(pack.id or 0, pack.version) if ready else None,
        versions=[PackVersionPublic(version=v.version, status=v.status, size_bytes=v.size_bytes,
                                    built_at=v.built_at, expires_at=v.expires_at,
                                    download_url=_download_url(pack.id or 0, v.version))
                  for v in downloadable],
        feed_url=f"/feeds/packs/{pack.id}.xml", created_at=pack.created_at)


# While a pack builds its progress changes every second: pollers must not be served a cached answer.
BUILDING_CACHE = "no-cache"


@router.get("/packs", response_model=PackPage)
def list_packs(session: SessionDep, response: Response, offset: Annotated[int, Query(ge=0)] = 0,
               limit: Annotated[int, Query(ge=1, le=100)] = 50) -> PackPage:
    """Every pack, newest first, with its newest version's status and size."""
    items, total = packs.list_packs(session, offset=offset, limit=limit)
    newest = packs.newest_versions(session, items)
    page = PackPage(items=[pack_public(session, p, newest.get(p.id or 0)) for p in items], total=total,
                    offset=offset, limit=limit)
    if any(p.status == "building" for p in page.items):
        response.headers["Cache-Control"] = BUILDING_CACHE
    return page


@router.post("/packs", status_code=201, response_model=PackPublic, responses=ERRORS)
def create_pack(body: PackCreate, ctx: ContextDep, session: SessionDep, viewer: CurrentUser) -> PackPublic:
    """Make a pack of a list of published lessons or of a selection; its first version starts building at once."""
    selection = body.selection.model_dump(exclude_none=True) if body.selection is not None else None
    pack, _ = make_pack(ctx, viewer, title=body.title, audience=body.audience, lesson_ids=body.lesson_ids,
                        selection=selection, order=body.order, spoken_intros=body.spoken_intros)
    fresh = packs.get_pack(session, pack.id or 0)
    return pack_public(session, fresh, packs.newest_version(session, fresh))


@router.get("/packs/{pack_id}", response_model=PackPublic, responses=ERRORS)
def pack_detail(pack_id: int, session: SessionDep, response: Response) -> PackPublic:
    pack = packs.get_pack(session, pack_id)
    public = pack_public(session, pack, packs.newest_version(session, pack))
    if public.status == "building":
        response.headers["Cache-Control"] = BUILDING_CACHE
    return public


@router.post("/packs/{pack_id}/rebuild", status_code=202, response_model=PackPublic, responses=ERRORS)
def rebuild(pack_id: int, ctx: ContextDep, session: SessionDep, viewer: CurrentUser) -> PackPublic:
    """Build the pack's next version now (after a failure, or to take in newly published lessons of a selection);
    409 while a version is building."""
    if not may_make_packs(viewer):
        raise Forbidden(f"{viewer.username} may not rebuild packs", message="只有县审核员、乡镇组织员和管理员可以重新生成音频包")
    packs.get_pack(session, pack_id)
    if rebuild_pack(ctx, pack_id) is None:
        raise PackNotReady(f"pack {pack_id} is building or empty", message="音频包正在生成，或已没有可放入的课程")
    session.expire_all()
    pack = packs.get_pack(session, pack_id)
    return pack_public(session, pack, packs.newest_version(session, pack))


@router.api_route("/packs/{pack_id}/download", methods=["GET", "HEAD"], responses=ERRORS,
                  response_class=Response)
def download(pack_id: int, request: Request, session: SessionDep, storage: StorageDep, settings: SettingsDep,
             version: Annotated[int | None, Query(ge=1)] = None) -> Response:
    """The pack's ZIP: the version asked for, else the newest ready one. Range and If-Range work; the ETag names the
    version, so a resumed download never mixes two versions."""
    pack = packs.get_pack(session, pack_id)
    ready = packs.downloadable_versions(session, pack)
    chosen = next((v for v in ready if version is None or v.version == version), None)
    if chosen is None or chosen.key is None:
        if version is not None and version > pack.version:
            raise PackNotFound(f"pack {pack_id} has no version {version}")
        asked = packs.newest_version(session, pack) if version in (None, pack.version) else None
        if asked is not None and asked.status == PackStatus.BUILDING:
            raise PackNotReady(f"pack {pack_id} version {pack.version} is building")
        raise PackNotReady(f"pack {pack_id} version {version or pack.version} is not downloadable",
                           message="这一版音频包已不能下载（里面有课程已撤下，或已过保留期），请下载最新的一版")
    name = download_filename(f"{pack.title} 第{chosen.version}版.zip")
    etag = f'"pack-{pack.id}-v{chosen.version}-{chosen.size_bytes}-{chosen.built_at:%Y%m%d%H%M%S}"'
    path = storage.local_path(chosen.key)
    if path is not None:
        if not path.is_file():
            raise PackNotFound(chosen.key)
        return FileResponse(path, media_type="application/zip", filename=name,
                            headers={"ETag": etag, "Cache-Control": "public, max-age=300"})
    url = storage.presigned_url(chosen.key, expires_s=settings.presigned_url_expires_s, download_name=name,
                                content_type="application/zip")
    if url is None:
        raise PackNotFound(chosen.key)
    return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
