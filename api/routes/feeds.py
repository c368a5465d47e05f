"""The library's podcast feeds (api/feeds.py builds them): every published lesson with an audio edition
(`/feeds/all.xml`, the newest 300), a series' (`/feeds/series/{id}.xml`) and a category's
(`/feeds/categories/{slug}.xml`), newest first, an audio pack's (`/feeds/packs/{id}.xml`), in track order, and
their artwork. The same for everybody: no credentials are read,
answers may be cached (five minutes), an unchanged feed is a 304, and HEAD is answered too (some apps ask it
first). An unknown series or category is a 404 with the API's `{code, message}`: feeds are read by apps."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import SessionDep, SettingsDep
from api.errors import ApiError
from api.feeds import ARTWORK_PATH, FeedChannel, artwork_png, feed_items, feed_response, render_feed, site_url
from api.routes.library import path_id
from catalog import packs
from catalog.broadcast import on_air_lessons
from catalog.library import category_by_slug, get_series
from catalog.models import AudioPack

router = APIRouter(include_in_schema=False)

FEED_ITEMS = 300  # the newest; older episodes stay in the library
SITE_TITLE = "县级微党课片库"
SITE_DESCRIPTION = "县委党员教育中心审核发布的微党课，随时收听，也可以下载进党课随身听。"
ARTWORK_MAX_AGE_S = 7 * 24 * 3600


def _channel(base_url: str, *, title: str, description: str, page: str, feed: str, serial: bool = False,
             updated_at: datetime | None = None) -> FeedChannel:
    return FeedChannel(title=title, description=description, page_url=base_url + page, feed_url=base_url + feed,
                       image_url=base_url + ARTWORK_PATH, serial=serial, updated_at=updated_at)


@router.api_route("/feeds/all.xml", methods=["GET", "HEAD"])
def all_lessons_feed(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Every published lesson's audio edition, the newest 300."""
    base_url = site_url(request, settings)
    channel = _channel(base_url, title=SITE_TITLE, description=SITE_DESCRIPTION, page="/", feed="/feeds/all.xml")
    items = feed_items(session, on_air_lessons(session, limit=FEED_ITEMS), base_url=base_url)
    return feed_response(request, render_feed(channel, items))


@router.api_route("/feeds/series/{series_id}.xml", methods=["GET", "HEAD"])
def series_feed(series_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """A series' published episodes (serial: apps offer them in episode order)."""
    number = path_id(series_id)
    series = get_series(session, number) if number is not None else None
    if series is None or series.id is None:
        raise ApiError(404, "not_found", "找不到这个系列")
    base_url = site_url(request, settings)
    channel = _channel(base_url, title=f"{series.title} · {SITE_TITLE}",
                       description=series.description or f"系列课《{series.title}》。{SITE_DESCRIPTION}",
                       page=f"/series/{series.id}", feed=f"/feeds/series/{series.id}.xml", serial=True,
                       updated_at=series.updated_at)
    lessons = on_air_lessons(session, series_id=series.id, limit=FEED_ITEMS)
    return feed_response(request, render_feed(channel, feed_items(session, lessons, base_url=base_url)))


@router.api_route("/feeds/categories/{slug}.xml", methods=["GET", "HEAD"])
def category_feed(slug: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """A category's published lessons, the newest 300."""
    category = category_by_slug(session, slug[:64])
    if category is None or category.id is None:
        raise ApiError(404, "not_found", "找不到这个分类")
    base_url = site_url(request, settings)
    channel = _channel(base_url, title=f"{category.name} · {SITE_TITLE}",
                       description=f"“{category.name}”类的微党课。{SITE_DESCRIPTION}",
                       page=f"/categories/{category.slug}", feed=f"/feeds/categories/{category.slug}.xml")
    lessons = on_air_lessons(session, category_id=category.id, limit=FEED_ITEMS)
    return feed_response(request, render_feed(channel, feed_items(session, lessons, base_url=base_url)))


@router.api_route(ARTWORK_PATH, methods=["GET", "HEAD"])
def feed_artwork(request: Request) -> Response:
    """The feeds' square artwork (PNG, 1400 px)."""
    return feed_response(request, artwork_png(), media_type="image/png", max_age_s=ARTWORK_MAX_AGE_S,
                         compress=False)


@router.api_route("/feeds/packs/{pack_id}.xml", methods=["GET", "HEAD"])
def pack_feed(pack_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """An audio pack's lessons as a podcast, in track order (serial): the newest version's tracks that are still
    published, so a phone can follow the same selection as the small players."""
    number = path_id(pack_id)
    pack = session.get(AudioPack, number) if number is not None else None
    if pack is None or pack.id is None:
        raise ApiError(404, "pack_not_found", "找不到该音频包")
    newest = packs.newest_version(session, pack)
    order = [t.lesson_id for t in packs.version_tracks(session, newest.id or 0) if t.lesson_id] if newest else []
    by_id = {o.lesson.id: o for o in on_air_lessons(session, lesson_ids=order)}
    base_url = site_url(request, settings)
    audience = f"（{pack.audience}）" if pack.audience else ""
    channel = _channel(base_url, title=f"{pack.title} · {SITE_TITLE}",
                       description=f"音频包《{pack.title}》{audience}的全部课程。{SITE_DESCRIPTION}",
                       page=f"/packs/{pack.id}", feed=f"/feeds/packs/{pack.id}.xml", serial=True,
                       updated_at=pack.updated_at)
    lessons = [by_id[i] for i in order if i in by_id]
    return feed_response(request, render_feed(channel, feed_items(session, lessons, base_url=base_url)))
