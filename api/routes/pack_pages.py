"""The audio packs' pages (党课随身听): the list (`/packs`) and one pack (`/packs/{id}`) for everybody, with the size
on the download button before anyone downloads and a progress bar while a version builds (api/static/packs.js
polls the JSON API; without JavaScript the page refreshes itself); the form that makes a pack (`/packs/new`) and
the rebuild button, for the county's staff and the townships' organisers. The rules and the building are
catalog/packs.py's and workers/packs.py's; the JSON API is api/routes/packs.py, whose `pack_public` these pages
show, so that the page and the API never disagree."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from api.auth import Caller, csrf_ok
from api.deps import ContextDep, FormCallerDep, SessionDep
from api.pack_schemas import PackPublic, PackVersionPublic
from api.presenters import lesson_summaries
from api.routes.library import listing, not_found_page, path_id
from api.routes.packs import pack_public
from api.routes.pages import CHINA_TIME, page, templates
from api.schemas import LessonSummary
from catalog import packs
from catalog.errors import CatalogError
from catalog.library import (
    LessonSort,
    categories_with_counts,
    category_by_slug,
    get_series,
    newest_lessons,
    series_with_counts,
)
from catalog.lifecycle import may_make_packs
from catalog.models import AudioPack, AudioPackVersion, PackOrder
from workers.packs import make_pack, rebuild_pack

router = APIRouter(include_in_schema=False)

LIST_PAGE_SIZE = 20
PICK_LIMIT = 60  # the newest published lessons offered for hand-picking
QUARTERS_OFFERED = 4
SERIES_OFFERED = 200
AUDIENCES = ("老年党员", "海上党支部", "居家党员", "流动党员")
SOURCES = ("quarter", "category", "series", "featured", "picked")
ORDER_NAMES: dict[str, str] = {"episode": "按集数", "date": "按发布日期", "manual": "按勾选顺序"}


# --- formatting, for the templates -------------------------------------------------------------------------------


def size_label(size_bytes: int | None) -> str:
    """58 MB; 4.2 MB under ten; 0.3 MB under one (never 0 MB for a real file)."""
    mb = (size_bytes or 0) / 1048576
    return f"{mb:.0f} MB" if mb >= 10 else f"{mb:.1f} MB"


def hours_minutes(duration_s: float | None) -> str:
    """1小时05分 or 45分钟: unambiguous where 1:05 could be read as minutes and seconds."""
    minutes = max(1, round(duration_s / 60)) if duration_s else 0
    return f"{minutes}分钟" if minutes < 60 else f"{minutes // 60}小时{minutes % 60:02d}分"


def china_date(value: datetime | None) -> str:
    """2027年3月5日, the county's date."""
    if value is None:
        return ""
    day = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(CHINA_TIME)  # SQLite: naive UTC
    return f"{day.year}年{day.month}月{day.day}日"


templates.env.filters["pack_size"] = size_label
templates.env.filters["hours_minutes"] = hours_minutes
templates.env.filters["china_date"] = china_date


def _to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def _message(request: Request, caller: Caller, heading: str, text: str, status_code: int) -> HTMLResponse:
    return page(request, caller, "message.html", {"page": "packs", "heading": heading, "text": text},
                status_code=status_code)


def _refusal(request: Request, caller: Caller) -> Response | None:
    """Anonymous callers log in first; accounts that may not make packs are told so in Chinese."""
    if caller.account is None:
        return _to_login(request)
    if not may_make_packs(caller.viewer):
        return _message(request, caller, "没有制作权限",
                        "只有县审核员、乡镇组织员和管理员可以制作音频包。如需制作，请联系县委党员教育中心。", 403)
    return None


# --- the list and one pack ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackView:
    """A pack as its pages show it: the API's view, and the version to download now (the newest ready one, which
    while the next version builds is the previous one)."""

    pack: PackPublic
    download: PackVersionPublic | None

    @property
    def download_is_newest(self) -> bool:
        return self.download is not None and self.download.version == self.pack.version

    @property
    def older(self) -> list[PackVersionPublic]:
        return self.pack.versions[1:]


def _view(session: Session, pack: AudioPack, newest: AudioPackVersion | None) -> PackView:
    public = pack_public(session, pack, newest)
    return PackView(pack=public, download=public.versions[0] if public.versions else None)


@router.get("/packs", response_class=HTMLResponse)
def packs_page(request: Request, session: SessionDep, caller: FormCallerDep) -> Response:
    """Every pack, newest first, a page at a time: what is in it, how big, and the download button."""
    at = listing(request, sorts=(LessonSort.NEWEST,), page_size=LIST_PAGE_SIZE)
    items, total = packs.list_packs(session, offset=at.offset, limit=at.page_size)
    newest = packs.newest_versions(session, items)
    return page(request, caller, "packs.html", {
        "page": "packs", "packs": [_view(session, p, newest.get(p.id or 0)) for p in items],
        "listing": at.context(total), "makes_packs": may_make_packs(caller.viewer)})


def _selection_label(session: Session, selection: dict[str, object] | None, tracks: int) -> str:
    if not selection:
        return f"自选的 {tracks} 节课"
    parts = []
    if isinstance(quarter := selection.get("quarter"), str):
        start, _ = packs.quarter_bounds(quarter)
        parts.append(f"{start.year}年第{(start.month - 1) // 3 + 1}季度新发布的课")
    if isinstance(slug := selection.get("category"), str):
        category = category_by_slug(session, slug)
        parts.append(f"分类“{category.name if category else slug}”")
    if isinstance(series_id := selection.get("series_id"), int):
        series = get_series(session, series_id)
        parts.append(f"系列“{series.title}”" if series else "一个系列")
    if selection.get("featured"):
        parts.append("精品课程")
    return "、".join(parts)


@router.get("/packs/new", response_class=HTMLResponse)
def new_pack_page(request: Request, session: SessionDep, caller: FormCallerDep) -> Response:
    """The form that makes a pack: a village secretary fills it in a minute."""
    if (refusal := _refusal(request, caller)) is not None:
        return refusal
    return _form_page(request, session, caller, _default_form(), error=None)


@router.get("/packs/{pack_id}", response_class=HTMLResponse)
def pack_page(pack_id: str, request: Request, session: SessionDep, caller: FormCallerDep) -> Response:
    """One pack: its tracks in order, the download buttons with their sizes, the feed, how to copy it onto a
    player; staff may rebuild it when its newest version failed or a lesson in it changed."""
    number = path_id(pack_id)
    pack = session.get(AudioPack, number) if number is not None else None
    if pack is None:
        return not_found_page(request, caller, "找不到这个音频包", "这个音频包不存在，可能已被删除。请回到随身听页面看看其他音频包。")
    view = _view(session, pack, packs.newest_version(session, pack))
    status = view.pack.status
    return page(request, caller, "pack_detail.html", {
        "page": "packs", "view": view, "pack": view.pack, "order_name": ORDER_NAMES.get(view.pack.order, ""),
        "contents": _selection_label(session, view.pack.selection, len(view.pack.tracks)),
        "may_rebuild": may_make_packs(caller.viewer) and status != "building" and (status == "failed" or view.pack.stale)})


@router.post("/packs/{pack_id}/rebuild")
def rebuild_pack_page(pack_id: str, request: Request, ctx: ContextDep, session: SessionDep, caller: FormCallerDep,
                      csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    """重新生成: start the pack's next version, then back to its page (which shows the progress)."""
    if (refusal := _refusal(request, caller)) is not None:
        return refusal
    if not csrf_ok(caller, csrf_token):
        return _message(request, caller, "页面已过期", "页面已过期，请刷新后重试。", 403)
    number = path_id(pack_id)
    if number is None or session.get(AudioPack, number) is None:
        return not_found_page(request, caller, "找不到这个音频包", "这个音频包不存在，可能已被删除。")
    session.commit()  # end this read before the rebuild's own transaction writes
    if rebuild_pack(ctx, number) is None:
        return _message(request, caller, "现在不能重新生成",
                        "这个音频包正在生成，或者里面的课程都已撤下、没有可以放进去的课了。", 409)
    return RedirectResponse(f"/packs/{number}", status_code=303)


# --- the form ----------------------------------------------------------------------------------------------------


@dataclass
class PackForm:
    """What the form holds: the defaults, or what the user sent (kept when it comes back with an error)."""

    title: str
    audience: str = ""
    source: str = "quarter"
    quarter: str = ""
    category: str = ""
    series_id: str = ""
    lesson_ids: tuple[str, ...] = ()
    order: str = ""  # "" lets the catalog choose: by episode for a series, by date for the rest, as ticked
    spoken_intros: bool = True


def _quarters(today: date) -> list[str]:
    """This quarter and the three before it, newest first."""
    found = [packs.quarter_of(today)]
    day = today
    while len(found) < QUARTERS_OFFERED:
        found.append(packs.previous_quarter(day))
        day = packs.quarter_bounds(found[-1])[0].date()
    return found


def _county_today() -> date:
    return datetime.now(packs.COUNTY_TZ).date()


def _default_form() -> PackForm:
    quarter = packs.quarter_of(_county_today())
    return PackForm(title=packs.quarterly_title(quarter), quarter=quarter)


def _selection_size(session: Session, selection: dict[str, Any]) -> int:
    """How many lessons a selection would put in a pack now (an unsaved pack, read only)."""
    probe = AudioPack(title="", selection_json=json.dumps(selection), track_order=PackOrder.DATE)
    return len(packs.pack_lessons(session, probe))


def _pickable(session: Session) -> list[LessonSummary]:
    """The newest published lessons that have an audio edition (what a pack can hold), newest first."""
    return lesson_summaries(session, newest_lessons(session, limit=PICK_LIMIT, audible_only=True))


def _form_page(request: Request, session: Session, caller: Caller, form: PackForm, *, error: str | None,
               status_code: int = 200) -> HTMLResponse:
    quarters = [{"value": q, "title": packs.quarterly_title(q), "name": packs.quarterly_title(q).split(" ")[0],
                 "lessons": _selection_size(session, {"quarter": q})} for q in _quarters(_county_today())]
    return page(request, caller, "pack_new.html", {
        "page": "packs", "form": form, "error": error, "audiences": AUDIENCES, "quarters": quarters,
        "categories": [c for c in categories_with_counts(session) if c.lessons],
        "series": series_with_counts(session, limit=SERIES_OFFERED),
        "featured_lessons": _selection_size(session, {"featured": True}),
        "lessons": _pickable(session), "max_title": packs.MAX_TITLE_CHARS,
        "max_audience": packs.MAX_AUDIENCE_CHARS}, status_code=status_code)


def _picked_in_order(lesson_ids: list[str], picked_order: str) -> tuple[str, ...]:
    """The ticked lessons in the order they were ticked (packs.js keeps it), else in the order they are listed."""
    ticked = list(dict.fromkeys(i.strip() for i in lesson_ids if i.strip()))
    clicked = [i for i in dict.fromkeys(picked_order.split(",")) if i]
    return tuple(clicked if sorted(clicked) == sorted(ticked) else ticked)


def _fields(form: PackForm) -> dict[str, Any] | str:
    """make_pack's keywords for the form, or what to tell the user."""
    if form.source not in SOURCES:
        return "请选择音频包里放哪些课。"
    order = form.order if form.order in set(PackOrder) else None
    common: dict[str, Any] = {"title": form.title, "audience": form.audience, "spoken_intros": form.spoken_intros}
    if form.source == "picked":
        if not form.lesson_ids:
            return "请在下面的课程列表里至少勾选一节课。"
        return {**common, "lesson_ids": list(form.lesson_ids), "order": order}
    selection: dict[str, Any]
    if form.source == "quarter":
        if not form.quarter:
            return "请选择季度。"
        selection = {"quarter": form.quarter}
    elif form.source == "category":
        if not form.category:
            return "请选择分类。"
        selection = {"category": form.category}
    elif form.source == "series":
        if (series_id := path_id(form.series_id)) is None:
            return "请选择系列。"
        selection = {"series_id": series_id}
    else:
        selection = {"featured": True}
    # 按勾选顺序 means nothing for a selection: the catalog's own order for it (by episode for a series).
    return {**common, "selection": selection, "order": None if order == PackOrder.MANUAL else order}


@router.post("/packs/new", response_class=HTMLResponse)
def new_pack_submit(
        request: Request, ctx: ContextDep, session: SessionDep, caller: FormCallerDep,
        csrf_token: Annotated[str, Form(max_length=100)] = "",
        title: Annotated[str, Form(max_length=1000)] = "",
        audience: Annotated[str, Form(max_length=500)] = "",
        source: Annotated[str, Form(max_length=20)] = "",
        quarter: Annotated[str, Form(max_length=20)] = "",
        category: Annotated[str, Form(max_length=64)] = "",
        series_id: Annotated[str, Form(max_length=12)] = "",
        lesson_ids: Annotated[list[str] | None, Form()] = None,
        picked_order: Annotated[str, Form(max_length=20_000)] = "",
        order: Annotated[str, Form(max_length=20)] = "",
        spoken_intros: Annotated[str, Form(max_length=10)] = "") -> Response:
    """Make the pack and start its first version; back to the form, input kept, with the reason in Chinese."""
    if (refusal := _refusal(request, caller)) is not None:
        return refusal
    if not csrf_ok(caller, csrf_token):
        return _message(request, caller, "页面已过期", "页面已过期，请回到上一页刷新后重新提交。", 403)
    form = PackForm(title=title, audience=audience, source=source, quarter=quarter, category=category,
                    series_id=series_id, lesson_ids=_picked_in_order(lesson_ids or [], picked_order)[:1000],
                    order=order, spoken_intros=bool(spoken_intros))
    fields = _fields(form)
    if isinstance(fields, str):
        return _form_page(request, session, caller, form, error=fields, status_code=422)
    session.commit()  # end this read before make_pack's own transaction writes
    try:
        pack, _ = make_pack(ctx, caller.viewer, **fields)
    except CatalogError as exc:
        return _form_page(request, session, caller, form, error=exc.message, status_code=422)
    return RedirectResponse(f"/packs/{pack.id}", status_code=303)

