"""The public film library (县级片库), no login needed: the home (精品, newest lessons, series, categories), a
category's lessons, and one lesson's page (player, transcript, speaker, branch, series navigation, downloads, a
share link that opens at a moment). Only published lessons are public; a lesson's own people
(catalog/lifecycle.py's `can_see`) may also open its page before then. Server-rendered so that reading works without
JavaScript; api/static/library.js adds the rest. The series, speaker, branch and search pages are in
api/routes/library_browse.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import Caller
from api.deps import FormCallerDep, SessionDep, SettingsDep
from api.presenters import lesson_public, lesson_summaries
from api.routes.pages import page
from api.schemas import AssetPublic, LessonPublic
from catalog import captions as catalog_captions
from catalog.lessons import get_lesson, lesson_facts
from catalog.library import (
    LessonSort,
    categories_with_counts,
    category_by_slug,
    category_lessons,
    episode_place,
    featured_lessons,
    newest_lessons,
    series_with_counts,
)
from catalog.lifecycle import can_see
from catalog.models import Organisation, ReviewState, Speaker
from catalog.organisations import township_of

router = APIRouter(include_in_schema=False)

CATEGORY_PAGE_SIZE = 20
OG_DESCRIPTION_CHARS = 100
SORT_NAMES: dict[str, str] = {LessonSort.NEWEST: "最新发布", LessonSort.POPULAR: "最受欢迎", LessonSort.FEATURED: "精品优先",
                              LessonSort.EPISODE: "按集数"}
LIST_SORTS = (LessonSort.NEWEST, LessonSort.POPULAR, LessonSort.FEATURED)


def not_found_page(request: Request, caller: Caller, heading: str, text: str) -> HTMLResponse:
    return page(request, caller, "message.html", {"page": "library", "heading": heading, "text": text},
                status_code=404)


def lenient_number(value: str | None, *, default: float = 0) -> float:
    """A number from the query string, leniently: a shared link with a mangled `t` still opens the lesson."""
    try:
        number = float(value) if value else default
    except ValueError:
        return default
    return number if number == number and abs(number) < 1e7 else default  # NaN and silly values: the default


def path_id(value: str) -> int | None:
    """A numeric id from the path; anything else finds nothing (and gets the same 404 as a missing id)."""
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None


@dataclass(frozen=True)
class Listing:
    """How a list page is ordered and paged, from its query string (lenient: unknown values are the default)."""

    sort: str
    default_sort: str
    page_no: int
    page_size: int
    sorts: tuple[str, ...]

    @property
    def offset(self) -> int:
        return (self.page_no - 1) * self.page_size

    def href(self, *, sort: str | None = None, page_no: int | None = None) -> str:
        """A link to this list in another order (from its first page) or to another page in this order."""
        sort = sort or self.sort
        params = {"sort": sort} if sort != self.default_sort or page_no is None else {}
        return "?" + urlencode({**params, **({"page": page_no} if page_no is not None else {})})

    def context(self, total: int) -> dict[str, Any]:
        """For the templates' sort bar and pager (library_cards.html)."""
        pages = max(1, -(-total // self.page_size))
        return {"total": total, "page_no": self.page_no, "pages": pages,
                "sorts": [{"value": s, "name": SORT_NAMES[s], "href": self.href(sort=s),
                           "current": s == self.sort} for s in self.sorts],
                "previous": self.href(page_no=self.page_no - 1) if self.page_no > 1 else None,
                "next": self.href(page_no=self.page_no + 1) if self.page_no < pages else None}


def listing(request: Request, *, sorts: tuple[str, ...] = LIST_SORTS, default_sort: str = LessonSort.NEWEST,
            page_size: int = CATEGORY_PAGE_SIZE) -> Listing:
    asked = request.query_params.get("sort") or ""
    page_no = max(1, min(int(lenient_number(request.query_params.get("page"), default=1)), 10_000))
    return Listing(sort=asked if asked in sorts else default_sort, default_sort=default_sort, page_no=page_no,
                   page_size=page_size, sorts=sorts)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, caller: FormCallerDep) -> Response:
    """The library's home, the same for everybody: 精品, the newest lessons, the series and the categories with
    their counts."""
    return page(request, caller, "library_home.html", {
        "page": "library",
        "featured": lesson_summaries(session, featured_lessons(session)),
        "newest": lesson_summaries(session, newest_lessons(session)),
        "series": series_with_counts(session),
        "categories": categories_with_counts(session)})


@router.get("/categories/{slug}", response_class=HTMLResponse)
def library_category(slug: str, request: Request, session: SessionDep, caller: FormCallerDep) -> Response:
    """A category's published lessons, newest first (`?sort=popular|featured`), a page (`?page=`) at a time."""
    category = category_by_slug(session, slug[:64])
    if category is None or category.id is None:
        return not_found_page(request, caller, "找不到这个分类", "这个分类不存在。请回到片库首页看看其他分类。")
    at = listing(request)
    lessons, total = category_lessons(session, category.id, sort=at.sort, offset=at.offset, limit=at.page_size)
    return page(request, caller, "library_category.html", {
        "page": "library", "category": category, "lessons": lesson_summaries(session, lessons),
        "listing": at.context(total)})


def _player(lesson: LessonPublic, start_s: float) -> dict[str, Any]:
    """The 360p rendition first (mobile data is dear in the hills), 720p on request; a lesson without a picture
    plays its audio edition. A `#t=` media fragment starts the player at the shared moment even without
    JavaScript."""
    renditions = sorted((a for a in lesson.assets if a.kind == "rendition"), key=lambda a: a.height or 0)
    vtt = next((a.url for a in lesson.assets if a.kind == "subtitles_vtt"), None)
    poster = next((a.url for a in lesson.assets if a.kind == "poster"), None)
    audio = next((a for a in lesson.assets if a.kind == "audio_edition"), None)
    fragment = f"#t={start_s:g}" if start_s > 0 else ""
    if lesson.media_kind != "audio" and renditions:
        first = next((a for a in renditions if a.label == "360p"), renditions[0])
        sharper = next((a for a in renditions if a.label == "720p"), renditions[-1])
        return {"kind": "video", "src": first.url + fragment, "label": first.label or "",
                "sources": {a.label or str(a.height): a.url for a in renditions},
                "sharper": sharper.label if sharper.id != first.id else None, "subtitles": vtt, "poster": poster}
    if audio is not None:
        return {"kind": "audio", "src": audio.url + fragment, "label": "", "sources": {}, "sharper": None,
                "subtitles": None, "poster": poster}
    return {"kind": None, "src": None, "label": "", "sources": {}, "sharper": None, "subtitles": None,
            "poster": poster}


def _downloads(lesson: LessonPublic) -> list[dict[str, Any]]:
    """What a visitor may keep: each rendition, the audio edition for the lesson radios, the SRT subtitles."""
    def item(asset: AssetPublic, name: str, hint: str) -> dict[str, Any]:
        return {"id": f"download-{asset.kind}-{asset.label or 'file'}", "name": name, "hint": hint,
                "url": asset.url + "?download=1", "size_bytes": asset.size_bytes}

    renditions = sorted((a for a in lesson.assets if a.kind == "rendition"), key=lambda a: a.height or 0)
    found = [item(a, f"视频 {a.label}", "清晰" if (a.height or 0) >= 720 else "省流量") for a in renditions]
    found += [item(a, "随身听 MP3", "只有声音，可拷进党课随身听") for a in lesson.assets if a.kind == "audio_edition"]
    found += [item(a, "字幕 SRT", "字幕文件") for a in lesson.assets if a.kind == "subtitles_srt"]
    return found


@router.get("/lessons/{lesson_id}", response_class=HTMLResponse)
def library_lesson(lesson_id: str, request: Request, session: SessionDep, caller: FormCallerDep,
                   settings: SettingsDep) -> Response:
    """One lesson: the player (starting at `?t=` seconds), the published transcript, the facts, downloads, and a
    link to share; Open Graph tags so that a link pasted into WeChat shows a card."""
    lesson = get_lesson(session, lesson_id[:64])
    if lesson is None or not can_see(caller.viewer, lesson_facts(session, lesson)):
        return not_found_page(request, caller, "找不到这节课", "这节课不存在，或者还没有发布。请回到片库首页看看其他课程。")
    public = lesson_public(session, lesson, caller.viewer, ratings_enabled=settings.ratings_enabled)
    branch = session.get(Organisation, lesson.branch_id) if lesson.branch_id else None
    township = township_of(session, branch)
    version = (catalog_captions.get_version(session, lesson.id, lesson.caption_version)
               if lesson.caption_version is not None else None)
    segments = catalog_captions.list_segments(session, version.id) if version and version.id is not None else []
    start_s = max(0.0, lenient_number(request.query_params.get("t")))
    if lesson.duration_s:
        start_s = min(start_s, lesson.duration_s)
    start_s = round(start_s, 1)
    player = _player(public, start_s)
    page_url = str(request.url_for("library_lesson", lesson_id=lesson.id))
    site = str(request.base_url).rstrip("/")
    spoken = "".join(s.text for s in segments)
    facts = [x for x in (f"主讲：{lesson.speaker}" if lesson.speaker else None, branch.name if branch else None,
                         public.category.name if public.category else None) if x]
    description = (spoken[:OG_DESCRIPTION_CHARS] + ("…" if len(spoken) > OG_DESCRIPTION_CHARS else "")
                   if spoken else " · ".join(facts) or "县级微党课片库")
    og = {"title": lesson.title, "description": description, "url": page_url,
          "image": site + player["poster"] if player["poster"] else None}
    published = lesson.review_state == ReviewState.PUBLISHED
    config = {"lessonId": lesson.id, "startS": start_s, "shareUrl": page_url, "player": player,
              # Plays are counted for the public library only: an insider's look before publication is not one.
              "playsUrl": f"/api/v1/lessons/{lesson.id}/plays" if published else None}
    speaker = session.get(Speaker, lesson.speaker_id) if lesson.speaker_id is not None else None
    return page(request, caller, "library_lesson.html", {
        "page": "library", "lesson": public, "township": township.name if township else None,
        "branch_id": branch.id if branch else None, "township_id": township.id if township else None,
        "speaker": speaker, "description": lesson.description, "published_at": lesson.published_at,
        "place": episode_place(session, lesson),
        "player": player, "segments": segments, "downloads": _downloads(public), "og": og,
        "share_url": page_url + (f"?t={start_s:g}" if start_s > 0 else ""), "config": config})
