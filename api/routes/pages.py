"""Chinese pages for branch secretaries: 上传微课 (resumable upload from a phone) and 我的上传 (progress)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from api.deps import SessionDep, SettingsDep
from catalog.models import OrgKind
from catalog.organisations import list_categories, list_organisations

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")  # autoescapes .html

# One tus PATCH per 5 MiB: an S3 part each, and little to send again when the signal drops mid-chunk.
CHUNK_SIZE_BYTES = 5 << 20


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/upload", status_code=307)


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    config = {"endpoint": "/api/v1/uploads/", "chunkSize": CHUNK_SIZE_BYTES,
              "maxBytes": settings.max_upload_bytes}
    return templates.TemplateResponse(request, "upload.html", {
        "page": "upload", "categories": list_categories(session),
        "branches": list_organisations(session, kind=OrgKind.BRANCH), "today": date.today().isoformat(),
        "token_required": bool(settings.upload_token), "config": config})


@router.get("/my-uploads", response_class=HTMLResponse)
def my_uploads_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "my_uploads.html", {"page": "mine"})
