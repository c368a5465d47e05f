"""Search: one box over the titles, speakers, categories and published transcripts of published lessons
(catalog/search.py), for everybody, with the moments where a lesson says the words."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import SessionDep
from api.errors import ApiError
from api.presenters import lesson_summaries
from api.schemas import CategoryPublic, ErrorPublic, LanguageCode, NamedRef, SeriesRef
from catalog.organisations import category_id_for
from catalog.search import SearchFilters, search_lessons
from transcode.asr_text import to_simplified

router = APIRouter(prefix="/api/v1", tags=["search"])

ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorPublic}, 422: {"model": ErrorPublic}}
HITS_PER_LESSON = 3


class SearchLessonPublic(BaseModel):
    id: str
    title: str
    speaker: str | None = None
    branch: NamedRef | None = None
    category: CategoryPublic | None = None
    duration_s: float | None = None
    poster_url: str | None = None
    featured: bool = False
    series: SeriesRef | None = None
    episode: int | None = None
    tags: list[str] = []
    published_at: datetime | None = None
    score: float


class SearchHitPublic(BaseModel):
    lesson_id: str
    start_s: float
    end_s: float
    text: str
    snippet: str  # HTML: the escaped sentence with the matching words in <mark>…</mark>


class SearchPage(BaseModel):
    total: int
    lessons: list[SearchLessonPublic]
    hits: list[SearchHitPublic]


@router.get("/search", response_model=SearchPage, responses=ERRORS)
def search(
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=100, description="words, pinyin or initials (dk: 党课)")] = None,
    category: str | None = None,
    branch_id: int | None = None,
    township_id: int | None = None,
    language: LanguageCode | None = None,
    year: Annotated[int | None, Query(ge=1900, le=2999)] = None,
    featured: bool | None = None,
    has_subtitles: bool | None = None,
    series_id: int | None = None,
    speaker_id: int | None = None,
    tag: Annotated[str | None, Query(max_length=32)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SearchPage:
    """Published lessons matching every word, best first (title above transcript, whole word above partial), and
    where their transcripts say them. Typed in Traditional characters, found in Simplified."""
    if not (q or "").strip():
        raise ApiError(422, "invalid_request", "请输入要搜索的词", "blank search")
    category_id = category_id_for(session, category)
    filters = SearchFilters(category_id=category_id, branch_id=branch_id, township_id=township_id, language=language,
                            year=year, featured=featured, has_subtitles=has_subtitles, series_id=series_id,
                            speaker_id=speaker_id, tag=to_simplified(tag) if tag else None)
    result = search_lessons(session, to_simplified(q or ""), filters=filters, offset=offset, limit=limit,
                            hits_per_lesson=HITS_PER_LESSON)
    summaries = lesson_summaries(session, [match.lesson for match in result.lessons])
    lessons = [SearchLessonPublic(
        id=summary.id, title=summary.title, speaker=summary.speaker, branch=summary.branch,
        category=summary.category, duration_s=summary.duration_s, poster_url=summary.poster_url,
        featured=summary.featured, series=summary.series, episode=summary.episode, tags=summary.tags,
        published_at=summary.published_at, score=match.score)
        for summary, match in zip(summaries, result.lessons, strict=True)]
    return SearchPage(total=result.total, lessons=lessons,
                      hits=[SearchHitPublic(**vars(hit)) for hit in result.hits])
