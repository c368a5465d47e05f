"""Members' star ratings for the "top ten lessons" contests (十佳党课), when WEIKE_RATINGS_ENABLED is set; otherwise
every route here answers 404 ratings_disabled. The rules are in catalog/ratings.py.

- `PUT /api/v1/lessons/{id}/rating` {stars}: any account, a published lesson it can see (one it cannot see is
  404 exactly like a missing lesson; an unpublished one it sees is 409 rating_not_allowed); rating again replaces.
- `GET /api/v1/lessons/{id}/rating`: the mean, the number of ratings and the caller's own stars.
- `GET /api/v1/ratings/ranking?period=2026&township=…`: the period's best-rated published lessons (public: only
  published lessons are in it).
- `POST /lessons/{id}/rating`: the lesson page's form (works without JavaScript), back to the page with 303.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import csrf_ok
from api.deps import CurrentUser, FormCallerDep, SessionDep, SettingsDep, ViewerDep
from api.report_schemas import (
    RankingPublic,
    RatingIn,
    RatingPublic,
    period_public,
    ranked_public,
    rating_public,
)
from api.routes.lessons import visible_lesson
from api.routes.pages import page
from api.schemas import ErrorPublic
from catalog.broadcast import county_today
from catalog.errors import CatalogError, LessonNotFound, RatingsDisabled, TownshipNotFound
from catalog.periods import parse_period
from catalog.ratings import my_rating, ranking, rate_lesson, rating_summary
from catalog.reports import find_township
from workers.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["ratings"])
page_router = APIRouter(include_in_schema=False)

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}, 404: {"model": ErrorPublic},
    409: {"model": ErrorPublic}, 422: {"model": ErrorPublic}}  # fmt: skip
MAX_RANKED = 100


def require_ratings(settings: Settings) -> None:
    if not settings.ratings_enabled:
        raise RatingsDisabled("WEIKE_RATINGS_ENABLED is off")


@router.put("/lessons/{lesson_id}/rating", response_model=RatingPublic, responses=ERRORS)
def rate(lesson_id: str, body: RatingIn, session: SessionDep, settings: SettingsDep, viewer: CurrentUser
         ) -> RatingPublic:
    """Give a published lesson 1 to 5 stars (again: replace them)."""
    require_ratings(settings)
    lesson = visible_lesson(session, lesson_id[:64], viewer)
    return rating_public(rate_lesson(session, lesson, viewer, stars=body.stars), body.stars)


@router.get("/lessons/{lesson_id}/rating", response_model=RatingPublic, responses=ERRORS)
def lesson_rating(lesson_id: str, session: SessionDep, settings: SettingsDep, viewer: ViewerDep) -> RatingPublic:
    require_ratings(settings)
    lesson = visible_lesson(session, lesson_id[:64], viewer)
    return rating_public(rating_summary(session, lesson.id), my_rating(session, lesson.id, viewer.account_id))


@router.get("/ratings/ranking", response_model=RankingPublic, responses=ERRORS)
def rating_ranking(session: SessionDep, settings: SettingsDep,
                   period: Annotated[str | None, Query(max_length=20, description=(
                       '"2026", "2026Q3" or "2026-07": lessons uploaded then; default: this year'))] = None,
                   township: Annotated[str | None, Query(max_length=100, description="a township's id or name")] = None,
                   limit: Annotated[int, Query(ge=1, le=MAX_RANKED)] = 10,
                   min_ratings: Annotated[int, Query(ge=1, le=10_000)] = 1) -> RankingPublic:
    """The 十佳党课 ranking: published lessons by their mean stars, then by how many rated them."""
    require_ratings(settings)
    chosen = parse_period(period) if period and period.strip() else parse_period(str(county_today().year))
    township_id = None
    if township and township.strip():
        org = find_township(session, township)
        if org is None or org.id is None:
            raise TownshipNotFound(f"township {township!r}")
        township_id = org.id
    items = ranking(session, period=chosen, township_id=township_id, limit=limit, min_ratings=min_ratings)
    return RankingPublic(period=period_public(chosen), township_id=township_id,
                         items=[ranked_public(item) for item in items])


_PAGE_REFUSALS = {  # error code -> (heading, status) of the page that says so
    "ratings_disabled": ("评分功能没有开启", 404), "lesson_not_found": ("找不到这节课", 404),
    "rating_not_allowed": ("不能评分", 409), "invalid_rating": ("请选择星级", 422), "forbidden": ("不能评分", 403)}


@page_router.post("/lessons/{lesson_id}/rating", response_class=HTMLResponse)
def rate_from_page(lesson_id: str, request: Request, session: SessionDep, settings: SettingsDep,
                   caller: FormCallerDep, stars: Annotated[str, Form(max_length=2)] = "",
                   csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    """The lesson page's star form: back to the lesson's page, or a page saying why not."""
    target = f"/lessons/{quote(lesson_id[:64], safe='')}"
    if caller.account is None and settings.ratings_enabled:
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    if not csrf_ok(caller, csrf_token):
        return page(request, caller, "message.html", {
            "page": "library", "heading": "页面已过期", "text": "页面已过期，请刷新后再评分。"}, status_code=403)
    try:
        require_ratings(settings)
        lesson = visible_lesson(session, lesson_id[:64], caller.viewer)
        number = int(stars) if stars.isascii() and stars.isdigit() and len(stars) < 3 else 0
        rate_lesson(session, lesson, caller.viewer, stars=number)
    except CatalogError as exc:
        heading, status = _PAGE_REFUSALS.get(exc.code, ("不能评分", 400))
        text = "这节课不存在，或者还没有发布。" if isinstance(exc, LessonNotFound) else exc.message
        return page(request, caller, "message.html", {"page": "library", "heading": heading, "text": text},
                    status_code=status)
    return RedirectResponse(f"{target}#rating", status_code=303)
