"""The public film library (县级片库), no login needed: the home (精品, newest lessons, categories), a category's
lessons, and one lesson's page (player, transcript, downloads, a share link that opens at a moment). Only
published lessons are public; a lesson's own people (catalog/lifecycle.py's `can_see`) may also open its page
before then. Server-rendered so that reading works without JavaScript; api/static/library.js adds the rest."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import Caller
from api.deps import FormCallerDep, SessionDep
from api.presenters import lesson_public, lesson_summary
from api.routes.pages import page
from api.schemas import AssetPublic, LessonPublic
from catalog import captions as catalog_captions
from catalog.lessons import get_lesson, lesson_facts
from catalog.library import (
    categories_with_counts,
    category_by_slug,
    category_lessons,
    featured_lessons,
    newest_lessons,
)
from catalog.lifecycle import can_see
from catalog.models import Organisation
from catalog.organisations import township_of

router = APIRouter(include_in_schema=False)

CATEGORY_PAGE_SIZE = 20
OG_DESCRIPTION_CHARS = 100


def _not_found(request: Request, caller: Caller, heading: str, text: str) -> HTMLResponse:
    return page(request, caller, "message.html", {"page": "library", "heading": heading, "text": text},
                status_code=404)


def _number(value: str | None, *, default: float = 0) -> float:
    """A number from the query string, leniently: a shared link with a mangled `t` still opens the lesson."""
    try:
        number = float(value) if value else default
    except ValueError:
        return default
    return number if number == number and abs(number) < 1e7 else default  # NaN and silly values: the default


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, caller: FormCallerDep) -> Response:
    """The library's home, the same for everybody: 精品, the newest lessons, the categories with their counts."""
    return page(request, caller, "library_home.html", {
        "page": "library",
        "featured": [lesson_summary(session, lesson) for lesson in featured_lessons(session)],
        "newest": [lesson_summary(session, lesson) for lesson in newest_lessons(session)],
        "categories": categories_with_counts(session)})


@router.get("/categories/{slug}", response_class=HTMLResponse)
def library_category(slug: str, request: Request, session: SessionDep, caller: FormCallerDep) -> Response:
    """A category's published lessons, newest first, a page (`?page=`) at a time."""
    category = category_by_slug(session, slug[:64])
    if category is None or category.id is None:
        return _not_found(request, caller, "找不到这个分类", "这个分类不存在。请回到片库首页看看其他分类。")
    page_no = max(1, min(int(_number(request.query_params.get("page"), default=1)), 10_000))
    lessons, total = category_lessons(session, category.id, offset=(page_no - 1) * CATEGORY_PAGE_SIZE,
                                      limit=CATEGORY_PAGE_SIZE)
    pages = max(1, -(-total // CATEGORY_PAGE_SIZE))
    return page(request, caller, "library_category.html", {
        "page": "library", "category": category, "lessons": [lesson_summary(session, x) for x in lessons],
        "total": total, "page_no": page_no, "pages": pages,
        "previous_page": page_no - 1 if page_no > 1 else None, "next_page": page_no + 1 if page_no < pages else None})


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
def library_lesson(lesson_id: str, request: Request, session: SessionDep, caller: FormCallerDep) -> Response:
    """One lesson: the player (starting at `?t=` seconds), the published transcript, the facts, downloads, and a
    link to share; Open Graph tags so that a link pasted into WeChat shows a card."""
    lesson = get_lesson(session, lesson_id[:64])
    if lesson is None or not can_see(caller.viewer, lesson_facts(session, lesson)):
        return _not_found(request, caller, "找不到这节课", "这节课不存在，或者还没有发布。请回到片库首页看看其他课程。")
    public = lesson_public(session, lesson, caller.viewer)
    branch = session.get(Organisation, lesson.branch_id) if lesson.branch_id else None
    township = township_of(session, branch)
    version = (catalog_captions.get_version(session, lesson.id, lesson.caption_version)
               if lesson.caption_version is not None else None)
    segments = catalog_captions.list_segments(session, version.id) if version and version.id is not None else []
    start_s = max(0.0, _number(request.query_params.get("t")))
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
    config = {"lessonId": lesson.id, "startS": start_s, "shareUrl": page_url, "player": player}
    return page(request, caller, "library_lesson.html", {
        "page": "library", "lesson": public, "township": township.name if township else None,
        "player": player, "segments": segments, "downloads": _downloads(public), "og": og,
        "share_url": page_url + (f"?t={start_s:g}" if start_s > 0 else ""), "config": config})
