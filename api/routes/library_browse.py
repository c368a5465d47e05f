"""More of the public film library (县级片库): a series' episodes in order, a speaker's lessons, a branch's (or a
township's branches') lessons, and the search page (what was said, with links to the moment). Published lessons
only, the same for everybody; something with no published lessons still has its page (saying so), and an unknown
id, or one that is not a number, is a 404 with exactly the body of a missing one. Server-rendered, GET forms only:
it all works without JavaScript."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from api.deps import FormCallerDep, SessionDep
from api.presenters import lesson_summaries
from api.routes.library import LIST_SORTS, lenient_number, listing, not_found_page, path_id
from api.routes.pages import page
from catalog.library import (
    LessonSort,
    get_series,
    get_speaker,
    library_org,
    org_lessons,
    published_years,
    series_lessons,
    speaker_lessons,
    township_branches,
)
from catalog.models import Lesson, OrgKind
from catalog.organisations import find_category, list_categories, list_organisations, township_of
from catalog.search import SearchFilters, search_lessons
from transcode.asr_text import to_simplified

router = APIRouter(include_in_schema=False)

SERIES_PAGE_SIZE = 50  # a 15-episode series on one page
SEARCH_PAGE_SIZE = 10
HITS_PER_LESSON = 3
MAX_QUERY_CHARS = 100


def _summaries(session: Session, lessons: list[Lesson]) -> list[Any]:
    return lesson_summaries(session, lessons)


@router.get("/series/{series_id}", response_class=HTMLResponse)
def library_series(series_id: str, request: Request, session: SessionDep, caller: FormCallerDep) -> Response:
    """A series' published episodes, in episode order (第N集) unless `?sort=` says otherwise."""
    number = path_id(series_id)
    series = get_series(session, number) if number is not None else None
    if series is None or series.id is None:
        return not_found_page(request, caller, "找不到这个系列", "这个系列不存在。请回到片库首页看看其他课程。")
    at = listing(request, sorts=(LessonSort.EPISODE, *LIST_SORTS), default_sort=LessonSort.EPISODE,
                 page_size=SERIES_PAGE_SIZE)
    lessons, total = series_lessons(session, series.id, sort=at.sort, offset=at.offset, limit=at.page_size)
    return page(request, caller, "library_series.html", {
        "page": "library", "series": series, "lessons": _summaries(session, lessons),
        "episodes": {lesson.id: lesson.episode for lesson in lessons if lesson.episode is not None},
        "listing": at.context(total)})


@router.get("/speakers/{speaker_id}", response_class=HTMLResponse)
def library_speaker(speaker_id: str, request: Request, session: SessionDep, caller: FormCallerDep) -> Response:
    """A lecturer (讲师): name, title or unit, photo and introduction, then their published lessons."""
    number = path_id(speaker_id)
    speaker = get_speaker(session, number) if number is not None else None
    if speaker is None or speaker.id is None:
        return not_found_page(request, caller, "找不到这位主讲人", "这位主讲人不在讲师库里。请回到片库首页看看其他课程。")
    at = listing(request)
    lessons, total = speaker_lessons(session, speaker.id, sort=at.sort, offset=at.offset, limit=at.page_size)
    return page(request, caller, "library_speaker.html", {
        "page": "library", "speaker": speaker, "lessons": _summaries(session, lessons),
        "photo_url": f"/api/v1/speakers/{speaker.id}/photo" if speaker.photo_key else None,
        "listing": at.context(total)})


@router.get("/branches/{org_id}", response_class=HTMLResponse)
def library_branch(org_id: str, request: Request, session: SessionDep, caller: FormCallerDep) -> Response:
    """A branch's published lessons; for a township, its branches (with their counts) and all their lessons."""
    number = path_id(org_id)
    org = library_org(session, number) if number is not None else None
    if org is None or org.id is None:
        return not_found_page(request, caller, "找不到这个支部", "这个支部或乡镇不存在。请回到片库首页看看其他课程。")
    at = listing(request)
    lessons, total = org_lessons(session, org, sort=at.sort, offset=at.offset, limit=at.page_size)
    township = township_of(session, org)
    return page(request, caller, "library_branch.html", {
        "page": "library", "org": org, "is_township": org.kind == OrgKind.TOWNSHIP,
        "township": township, "branches": township_branches(session, org.id) if org.kind == OrgKind.TOWNSHIP else [],
        "lessons": _summaries(session, lessons), "listing": at.context(total)})


def _flag(value: str | None) -> bool | None:
    return True if value in ("1", "true", "on") else None


@router.get("/search", response_class=HTMLResponse)
def library_search(request: Request, session: SessionDep, caller: FormCallerDep) -> Response:
    """The search page: a GET form (words, category, township, year, with subtitles, 精品 only) and a page of
    published lessons that match, each with the sentences that say the words as links to that moment. A blank
    search shows the form; filters that name nothing known are ignored."""
    params = request.query_params
    q = " ".join((params.get("q") or "").split())[:MAX_QUERY_CHARS]
    category = find_category(session, params["category"][:64]) if params.get("category") else None
    townships = list_organisations(session, kind=OrgKind.TOWNSHIP)
    township_id = path_id(params.get("township") or "")
    township_id = township_id if any(t.id == township_id for t in townships) else None
    year = int(lenient_number(params.get("year"))) or None
    year = year if year is not None and 1900 <= year <= 2999 else None
    filters = SearchFilters(category_id=category.id if category else None, township_id=township_id, year=year,
                            featured=_flag(params.get("featured")),
                            has_subtitles=_flag(params.get("has_subtitles")))
    chosen = {"q": q, "category": category.slug if category else "", "township": township_id or "",
              "year": year or "", "featured": "1" if filters.featured else "",
              "has_subtitles": "1" if filters.has_subtitles else ""}
    page_no = max(1, min(int(lenient_number(params.get("page"), default=1)), 1_000))
    results: list[dict[str, Any]] = []
    total = 0
    if q:
        found = search_lessons(session, to_simplified(q), filters=filters, offset=(page_no - 1) * SEARCH_PAGE_SIZE,
                               limit=SEARCH_PAGE_SIZE, hits_per_lesson=HITS_PER_LESSON)
        total = found.total
        hits: dict[str, list[Any]] = defaultdict(list)
        for hit in found.hits:
            hits[hit.lesson_id].append(hit)
        summaries = lesson_summaries(session, [match.lesson for match in found.lessons])
        results = [{"lesson": summary, "hits": hits.get(summary.id, [])} for summary in summaries]
    pages = max(1, -(-total // SEARCH_PAGE_SIZE))
    kept = {k: v for k, v in chosen.items() if v}

    def href(number: int) -> str:
        return "?" + urlencode({**kept, "page": number})

    return page(request, caller, "library_search.html", {
        "page": "search", "q": q, "chosen": chosen, "results": results, "total": total, "page_no": page_no,
        "pages": pages, "previous": href(page_no - 1) if page_no > 1 and q else None,
        "next": href(page_no + 1) if page_no < pages and q else None,
        "categories": list_categories(session), "townships": townships, "years": published_years(session),
        "filtered": any(v for k, v in chosen.items() if k != "q")})
