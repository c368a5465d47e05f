"""Chinese pages: 登录, 上传微课 (resumable upload from a phone) and 我的上传 (progress and review), behind login."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.auth import SESSION_COOKIE, Caller, csrf_ok
from api.deps import FormCallerDep, SessionDep, SettingsDep
from api.routes.accounts import login
from catalog.accounts import end_web_session, start_web_session
from catalog.errors import InvalidCredentials, LoginThrottled
from catalog.lifecycle import may_upload
from catalog.models import Organisation, OrgKind
from catalog.organisations import list_categories, list_organisations

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")  # autoescapes .html

# One tus PATCH per 5 MiB: an S3 part each, and little to send again when the signal drops mid-chunk.
CHUNK_SIZE_BYTES = 5 << 20
ROLE_NAMES = {"uploader": "支部上传员", "organiser": "乡镇组织员", "reviewer": "县审核员", "admin": "管理员"}


def _local_path(target: str | None, default: str = "/upload") -> str:
    """Only a path on this site: never `//evil.example`, `/\\evil`, or a scheme."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target or "\n" in target:
        return default
    return target


def page(request: Request, caller: Caller, name: str, context: dict[str, Any], status_code: int = 200
         ) -> HTMLResponse:
    account = caller.account
    who = None
    if account is not None:
        who = {"name": account.display_name or account.username, "role": ROLE_NAMES.get(account.role, account.role)}
    response = templates.TemplateResponse(request, name, {"who": who, "csrf_token": caller.csrf_token or "",
                                                          **context}, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/upload", status_code=307)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, caller: FormCallerDep, next: str | None = None) -> Response:
    if caller.account is not None:
        return RedirectResponse(_local_path(next), status_code=303)
    return page(request, caller, "login.html", {"page": "login", "next": _local_path(next), "error": None})


@router.post("/login", response_class=HTMLResponse)
def login_submit(request: Request, session: SessionDep, settings: SettingsDep, caller: FormCallerDep,
                 username: Annotated[str, Form(max_length=64)] = "",
                 password: Annotated[str, Form(max_length=256)] = "",
                 next: Annotated[str, Form(max_length=500)] = "/upload") -> Response:
    target = _local_path(next)
    try:
        account = login(session, settings, username, password)
    except (InvalidCredentials, LoginThrottled) as exc:
        throttled = isinstance(exc, LoginThrottled)
        response = page(request, caller, "login.html", {
            "page": "login", "next": target, "username": username, "error": exc.message},
            status_code=429 if throttled else 401)
        if isinstance(exc, LoginThrottled):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    started = start_web_session(session, account, ttl_s=settings.web_session_ttl_s)
    redirect = RedirectResponse(target, status_code=303)
    redirect.set_cookie(SESSION_COOKIE, started.token, max_age=settings.web_session_ttl_s, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https", path="/")
    return redirect


@router.post("/logout")
def logout(request: Request, session: SessionDep, caller: FormCallerDep,
           csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    if caller.account is not None and not csrf_ok(caller, csrf_token):
        return RedirectResponse("/login", status_code=303)  # a forged logout does nothing
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        end_web_session(session, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, session: SessionDep, settings: SettingsDep, caller: FormCallerDep) -> Response:
    if caller.account is None:
        return _to_login(request)
    if not may_upload(caller.viewer):
        return page(request, caller, "message.html", {
            "page": "upload", "heading": "没有上传权限", "text": "这个账号不能上传微课。如需上传，请联系县里管理员。"},
            status_code=403)
    own = session.get(Organisation, caller.account.org_id) if caller.account.org_id else None
    config = {"endpoint": "/api/v1/uploads/", "chunkSize": CHUNK_SIZE_BYTES, "maxBytes": settings.max_upload_bytes,
              "csrfToken": caller.csrf_token or "", "user": caller.account.username}
    return page(request, caller, "upload.html", {
        "page": "upload", "categories": list_categories(session), "own_branch": own.name if own else None,
        "branches": [] if own else list_organisations(session, kind=OrgKind.BRANCH),
        "today": date.today().isoformat(), "config": config})


@router.get("/my-uploads", response_class=HTMLResponse)
def my_uploads_page(request: Request, caller: FormCallerDep) -> Response:
    if caller.account is None:
        return _to_login(request)
    return page(request, caller, "my_uploads.html", {"page": "mine"})
