"""Chinese pages, behind login: 登录, 上传微课 (resumable upload from a phone, also of a revised lesson), 我的上传
(progress and review results) and the county reviewers' desk (审核台: the queue and one lesson at a time)."""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import Session

from api.auth import SESSION_COOKIE, Caller, csrf_ok
from api.deps import FormCallerDep, SessionDep, SettingsDep
from api.presenters import history_entry_public, lesson_public, review_public
from api.routes.accounts import login
from api.schemas import LessonPublic
from api.static_files import version_static_urls
from catalog.accounts import end_web_session, start_web_session
from catalog.audit import lesson_history
from catalog.desk import QueueFilters, count_by_review_state, queue_position, review_queue, waiting_since
from catalog.errors import InvalidCredentials, LoginThrottled
from catalog.lessons import get_lesson, lesson_facts
from catalog.lifecycle import can_see, may_review, may_upload, may_upload_revision
from catalog.models import Category, Language, Lesson, Organisation, OrgKind, ReviewState, Role
from catalog.organisations import find_category, list_categories, list_organisations, township_of
from catalog.review import REVIEW_REASONS
from catalog.series import list_series
from catalog.speakers import list_speakers

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")  # autoescapes .html
version_static_urls(templates)

# One tus PATCH per 5 MiB: an S3 part each, and little to send again when the signal drops mid-chunk.
CHUNK_SIZE_BYTES = 5 << 20
ROLE_NAMES = {"uploader": "支部上传员", "organiser": "乡镇组织员", "reviewer": "县审核员", "admin": "管理员"}
QUEUE_PAGE_SIZE = 50
DESK_CHOICES = 1000  # speakers and series offered at the desk (the county's lecturer pool is 100+)
CHINA_TIME = timezone(timedelta(hours=8))  # the county's clock, whatever the server's


def _china_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(CHINA_TIME).strftime(fmt) if value is not None else ""


templates.env.filters["china_time"] = _china_time


def _local_path(target: str | None, default: str = "/") -> str:
    """Only a path on this site: never `//evil.example`, `/\\evil`, or a scheme."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target or "\n" in target:
        return default
    return target


def page(request: Request, caller: Caller, name: str, context: dict[str, Any], status_code: int = 200
         ) -> HTMLResponse:
    account = caller.account
    who = None
    if account is not None:
        who = {"name": account.display_name or account.username, "role": ROLE_NAMES.get(account.role, account.role),
               "reviews": may_review(caller.viewer)}
    response = templates.TemplateResponse(request, name, {"who": who, "csrf_token": caller.csrf_token or "",
                                                          **context}, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def _message(request: Request, caller: Caller, page_name: str, heading: str, text: str, status_code: int
             ) -> HTMLResponse:
    return page(request, caller, "message.html", {"page": page_name, "heading": heading, "text": text},
                status_code=status_code)


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


# The login form's own token, in a cookie only /login gets and only from the site itself (SameSite=Strict) and in
# the form: another site can post a login form, but not with the token, so it cannot log a member's browser into
# the attacker's account (whose branch their uploads would then go to).
LOGIN_COOKIE = "weike_login"
LOGIN_EXPIRED = "登录页面已过期，请重新输入用户名和密码"


def _login_form(request: Request, caller: Caller, *, next: str, username: str = "", error: str | None = None,
                status_code: int = 200) -> HTMLResponse:
    token = request.cookies.get(LOGIN_COOKIE) or ""
    if not (20 <= len(token) <= 64 and token.isascii()):
        token = secrets.token_urlsafe(24)
    response = page(request, caller, "login.html", {"page": "login", "next": next, "username": username,
                                                    "error": error, "login_token": token}, status_code=status_code)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", path="/login",
                        secure=request.url.scheme == "https")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, caller: FormCallerDep, next: str | None = None) -> Response:
    if caller.account is not None:
        return RedirectResponse(_local_path(next), status_code=303)
    return _login_form(request, caller, next=_local_path(next))


@router.post("/login", response_class=HTMLResponse)
def login_submit(request: Request, session: SessionDep, settings: SettingsDep, caller: FormCallerDep,
                 username: Annotated[str, Form(max_length=64)] = "",
                 password: Annotated[str, Form(max_length=256)] = "",
                 next: Annotated[str, Form(max_length=500)] = "/",
                 login_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    target = _local_path(next)
    expected = request.cookies.get(LOGIN_COOKIE) or ""
    if not expected or not hmac.compare_digest(expected.encode(), login_token.encode()):
        return _login_form(request, caller, next=target, username=username, error=LOGIN_EXPIRED, status_code=403)
    try:
        account = login(session, settings, username, password)
    except (InvalidCredentials, LoginThrottled) as exc:
        throttled = isinstance(exc, LoginThrottled)
        response = _login_form(request, caller, next=target, username=username, error=exc.message,
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


def _revision_target(request: Request, session: Session, caller: Caller, lesson_id: str
                     ) -> Lesson | HTMLResponse:
    """The lesson a revision is for, or the Chinese page saying why it cannot be revised now."""
    lesson = get_lesson(session, lesson_id)
    facts = lesson_facts(session, lesson) if lesson is not None else None
    if lesson is None or facts is None or not can_see(caller.viewer, facts):
        return _message(request, caller, "upload", "找不到这节课", "这节课不存在，或者你没有权限查看。", 404)
    if not may_upload_revision(caller.viewer, facts):
        return _message(request, caller, "upload", "不能上传修改版本", "只有本支部可以上传这节课修改后的版本。", 403)
    if lesson.review_state != ReviewState.REVISION_REQUESTED:
        return _message(request, caller, "upload", "不需要上传新版本",
                        f"县里没有要求修改《{lesson.title}》，不能为它上传新版本。", 409)
    return lesson


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, session: SessionDep, settings: SettingsDep, caller: FormCallerDep,
                revision_of: str | None = None) -> Response:
    """The upload form; with `revision_of`, the same form sends a revised file of a lesson sent back for revision."""
    if caller.account is None:
        return _to_login(request)
    if not may_upload(caller.viewer):
        return _message(request, caller, "upload", "没有上传权限", "这个账号不能上传微课。如需上传，请联系县里管理员。",
                        403)
    own = session.get(Organisation, caller.account.org_id) if caller.account.org_id else None
    config: dict[str, Any] = {"endpoint": "/api/v1/uploads/", "chunkSize": CHUNK_SIZE_BYTES,
                              "maxBytes": settings.max_upload_bytes, "csrfToken": caller.csrf_token or "",
                              "user": caller.account.username, "revisionOf": None}
    revision = None
    if revision_of:
        target = _revision_target(request, session, caller, revision_of[:64])
        if isinstance(target, HTMLResponse):
            return target
        branch = session.get(Organisation, target.branch_id) if target.branch_id else None
        category = session.get(Category, target.category_id) if target.category_id else None
        own = branch or own
        revision = {"lesson": target, "next": target.revision + 1, "review": review_public(session, target),
                    "category": category.slug if category else ""}
        config["revisionOf"] = target.id
    return page(request, caller, "upload.html", {
        "page": "upload", "categories": list_categories(session), "own_branch": own.name if own else None,
        "branches": [] if own else list_organisations(session, kind=OrgKind.BRANCH),
        "today": date.today().isoformat(), "config": config, "revision": revision})


@router.get("/my-uploads", response_class=HTMLResponse)
def my_uploads_page(request: Request, session: SessionDep, caller: FormCallerDep) -> Response:
    """An uploader sees every lesson of their branch (the branch's members share the work, and a revision is the
    branch's to upload), or only their own; everybody else the lessons they uploaded."""
    if caller.account is None:
        return _to_login(request)
    account = caller.account
    branch = session.get(Organisation, account.org_id) if account.org_id and account.role == Role.UPLOADER else None
    config = {"scope": "branch" if branch else "mine", "branchId": branch.id if branch else None,
              "mayUpload": may_upload(caller.viewer), "pageSize": 20}
    return page(request, caller, "my_uploads.html", {"page": "mine", "config": config,
                                                     "branch": branch.name if branch else None})


# --- the reviewers' desk -----------------------------------------------------------------------------------------


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdigit() and len(value) < 10 else None


def _queue_filters(session: Session, request: Request) -> tuple[QueueFilters, dict[str, str]]:
    """The queue the reviewer is working through, from the query string, and the same as query parameters (for the
    links that keep it). Unknown values are ignored rather than refused."""
    q = request.query_params
    states = {s.value for s in ReviewState}
    asked = q.get("state") or ""
    state: str = asked if asked in states else ReviewState.AWAITING_REVIEW
    category = find_category(session, q["category"][:64]) if q.get("category") else None
    language = q.get("language") if q.get("language") in {lang.value for lang in Language} else None
    filters = QueueFilters(state=state, township_id=_int_or_none(q.get("township")),
                           branch_id=_int_or_none(q.get("branch")), category_id=category.id if category else None,
                           language=language)
    params: dict[str, str] = {"state": state}
    for name, value in (("township", filters.township_id), ("branch", filters.branch_id),
                        ("category", category.slug if category else None), ("language", language)):
        if value is not None:
            params[name] = str(value)
    return filters, params


def _desk_refusal(request: Request, caller: Caller) -> Response | None:
    if caller.account is None:
        return _to_login(request)
    if not may_review(caller.viewer):
        return _message(request, caller, "review", "没有审核权限",
                        "审核台只对县里的审核员和管理员开放。如需审核，请联系县委党员教育中心管理员。", 403)
    return None


def _waited_s(since: datetime | None) -> int:
    return max(0, int((datetime.now(UTC) - since).total_seconds())) if since is not None else 0


@router.get("/review", response_class=HTMLResponse)
def review_queue_page(request: Request, session: SessionDep, caller: FormCallerDep) -> Response:
    """The review queue: one review state (awaiting review by default), the longest-waiting lesson first."""
    if (refusal := _desk_refusal(request, caller)) is not None:
        return refusal
    filters, params = _queue_filters(session, request)
    page_no = max(1, min(_int_or_none(request.query_params.get("page_no")) or 1, 10_000))
    entries, total = review_queue(session, filters=filters, offset=(page_no - 1) * QUEUE_PAGE_SIZE,
                                  limit=QUEUE_PAGE_SIZE)
    townships = list_organisations(session, kind=OrgKind.TOWNSHIP)
    branches = [b for b in list_organisations(session, kind=OrgKind.BRANCH)
                if filters.township_id is None or b.parent_id == filters.township_id]
    base = {k: v for k, v in params.items() if k != "state"}
    return page(request, caller, "review_queue.html", {
        "page": "review", "filters": filters, "params": params, "entries": entries, "total": total,
        "waited_s": {e.lesson.id: _waited_s(e.waiting_since) for e in entries},
        "counts": count_by_review_state(session, filters=filters),
        "tab_query": {state.value: urlencode({**base, "state": state.value}) for state in ReviewState},
        "lesson_query": urlencode(params), "page_no": page_no, "page_size": QUEUE_PAGE_SIZE,
        "previous_page": urlencode({**params, "page_no": page_no - 1}) if page_no > 1 else None,
        "next_page": urlencode({**params, "page_no": page_no + 1}) if page_no * QUEUE_PAGE_SIZE < total else None,
        "townships": townships, "branches": branches, "categories": list_categories(session),
        "category_slug": params.get("category", "")})


def _player(lesson: LessonPublic) -> dict[str, Any]:
    """What the desk plays: the 360p rendition first (a county office line is slow), 720p on request; a lesson
    without a picture plays its audio edition. Subtitles from the WebVTT file."""
    renditions = sorted((a for a in lesson.assets if a.kind == "rendition"), key=lambda a: a.height or 0)
    vtt = next((a for a in lesson.assets if a.kind == "subtitles_vtt"), None)
    poster = next((a for a in lesson.assets if a.kind == "poster"), None)
    audio = next((a for a in lesson.assets if a.kind == "audio_edition"), None)
    if lesson.media_kind != "audio" and renditions:
        first = next((a for a in renditions if a.label == "360p"), renditions[0])
        sharper = next((a for a in renditions if a.label == "720p"), renditions[-1])
        sources = {a.label or str(a.height): a.url for a in renditions}
        return {"kind": "video", "src": first.url, "label": first.label, "sources": sources,
                "sharper": sharper.label if sharper.id != first.id else None,
                "subtitles": vtt.url if vtt else None, "poster": poster.url if poster else None}
    if audio is not None:
        return {"kind": "audio", "src": audio.url, "label": None, "sources": {}, "sharper": None,
                "subtitles": None, "poster": None}
    return {"kind": None, "src": None, "label": None, "sources": {}, "sharper": None, "subtitles": None,
            "poster": None}


@router.get("/review/{lesson_id}", response_class=HTMLResponse)
def review_lesson_page(lesson_id: str, request: Request, session: SessionDep, caller: FormCallerDep) -> Response:
    """One lesson at the desk: player, transcript, processing report, history and the decision."""
    if (refusal := _desk_refusal(request, caller)) is not None:
        return refusal
    lesson = get_lesson(session, lesson_id[:64])
    if lesson is None:
        return _message(request, caller, "review", "找不到这节课", "这节课不存在，可能已被删除。", 404)
    filters, params = _queue_filters(session, request)
    position = queue_position(session, lesson.id, filters=filters)
    query = urlencode(params)
    link = {"queue": f"/review?{query}",
            "previous": f"/review/{position.previous_id}?{query}" if position.previous_id else None,
            "next": f"/review/{position.next_id}?{query}" if position.next_id else None}
    public = lesson_public(session, lesson, caller.viewer)
    branch = session.get(Organisation, lesson.branch_id) if lesson.branch_id else None
    township = township_of(session, branch)
    config = {"lessonId": lesson.id, "csrfToken": caller.csrf_token or "", "state": lesson.review_state,
              "featured": lesson.featured, "durationS": lesson.duration_s, "captionVersion": lesson.caption_version,
              "links": link,
              "player": _player(public), "api": {
                  "review": f"/api/v1/lessons/{lesson.id}/review", "feature": f"/api/v1/lessons/{lesson.id}/feature",
                  "transcript": f"/api/v1/lessons/{lesson.id}/transcript",
                  "captions": f"/api/v1/lessons/{lesson.id}/captions",
                  "lesson": f"/api/v1/lessons/{lesson.id}", "speakers": "/api/v1/speakers",
                  "series": "/api/v1/series"}}
    return page(request, caller, "review_lesson.html", {
        "page": "review", "lesson": public, "township": township.name if township else None,
        "waited_s": _waited_s(waiting_since(session, lesson.id)), "position": position, "link": link,
        "history": [history_entry_public(e) for e in lesson_history(session, lesson.id)],
        "reasons": REVIEW_REASONS, "player": config["player"], "config": config,
        "speakers": list_speakers(session, limit=DESK_CHOICES)[0], "series": list_series(session, limit=DESK_CHOICES)[0]})
