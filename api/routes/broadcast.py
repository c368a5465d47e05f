"""The daily broadcast (党课大家听): a day's programme for the village loudspeakers, as JSON
(`/api/v1/broadcast/{date}`), as an M3U playlist a player or a village office PC can fetch
(`/broadcast/{date}.m3u`; `today` names the county's today), and as a page (`/broadcast`: today's programme with
a player per lesson, and the next seven days). `?township=ID` asks for a township's own programme. Planning and
storing are catalog/broadcast.py's: a date's first request fixes its programme. Public and the same for
everybody; the JSON and the playlist read no credentials."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from sqlmodel import Session

from api.deps import FormCallerDep, SessionDep, SettingsDep
from api.errors import ApiError
from api.feeds import feed_response, site_url, xml_text
from api.presenters import asset_url
from api.routes.library import path_id
from api.routes.pages import page
from api.schemas import ErrorPublic, NamedRef
from catalog.broadcast import Programme, county_today, get_township, programme_for
from catalog.models import Organisation, OrgKind
from catalog.organisations import list_organisations
from workers.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["broadcast"])
page_router = APIRouter(include_in_schema=False)  # the playlist and the page

MAX_DAYS_AWAY = 400  # programmes are planned (and kept) for dates within this many days of today
WEEK_DAYS = 7
M3U_TYPE = "audio/x-mpegurl; charset=utf-8"
M3U_MAX_AGE_S = 300
REASON_NAMES = {"new": "新课", "featured": "精品", "library": "片库"}
WEEKDAYS = "一二三四五六日"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LINE_BREAKS = re.compile(r"[\t\n\r\u0085\u2028\u2029]+")


class BroadcastItemPublic(BaseModel):
    n: int
    lesson_id: str
    title: str
    speaker: str | None
    branch: str | None
    duration_s: float
    audio_url: str  # absolute
    page_url: str  # absolute
    reason: str  # new | featured | library


class BroadcastPublic(BaseModel):
    date: date
    township: NamedRef | None
    target_s: int
    duration_s: float
    m3u_url: str  # absolute
    items: list[BroadcastItemPublic]


def broadcast_day(value: str, *, today: date) -> date:
    """A date from the path: ISO (2026-07-01) or `today`; 422 for anything else or too far from today."""
    if value == "today":
        return today
    if not _ISO_DATE.fullmatch(value):
        raise ApiError(422, "invalid_date", "日期格式不对，请写成 2026-07-01 这样")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ApiError(422, "invalid_date", "没有这一天，请检查日期") from None
    if abs((day - today).days) > MAX_DAYS_AWAY:
        raise ApiError(422, "date_out_of_range", f"只能查看今天前后 {MAX_DAYS_AWAY} 天以内的节目单")
    return day


def township_param(session: Session, value: str | None) -> Organisation | None:
    """`?township=ID`: a township, or 404 (`township_not_found`) when it names none."""
    if value is None or value == "":
        return None
    number = path_id(value)
    township = get_township(session, number) if number is not None else None
    if township is None:
        raise ApiError(404, "township_not_found", "找不到这个乡镇")
    return township


def _programme(session: Session, settings: Settings, day: date, township: Organisation | None) -> Programme:
    return programme_for(session, day, target_s=settings.broadcast_minutes * 60, township=township)


def _m3u_path(day: date, township: Organisation | None) -> str:
    return f"/broadcast/{day.isoformat()}.m3u" + (f"?township={township.id}" if township is not None else "")


def _items(session: Session, programme: Programme, base_url: str) -> list[BroadcastItemPublic]:
    items = []
    for slot in programme.slots:
        lesson = slot.on_air.lesson
        branch = session.get(Organisation, lesson.branch_id) if lesson.branch_id else None
        items.append(BroadcastItemPublic(
            n=slot.number, lesson_id=lesson.id, title=lesson.title, speaker=lesson.speaker,
            branch=branch.name if branch else None, duration_s=round(slot.on_air.duration_s, 1),
            audio_url=base_url + asset_url(slot.on_air.audio), page_url=f"{base_url}/lessons/{lesson.id}",
            reason=slot.reason))
    return items


def _public(session: Session, programme: Programme, base_url: str) -> BroadcastPublic:
    township = programme.township
    return BroadcastPublic(
        date=programme.day, township=NamedRef(id=township.id or 0, name=township.name) if township else None,
        target_s=programme.target_s, duration_s=round(programme.duration_s, 1),
        m3u_url=base_url + _m3u_path(programme.day, township), items=_items(session, programme, base_url))


@router.get("/broadcast/{day}", response_model=BroadcastPublic,
            responses={404: {"model": ErrorPublic}, 422: {"model": ErrorPublic}})
def broadcast_programme(day: str, request: Request, session: SessionDep, settings: SettingsDep,
                        township: str | None = None) -> BroadcastPublic:
    """The day's programme (ISO date or `today`), for the county or `?township=ID`: newly published lessons first,
    then 精品, then the rest of the library, about `WEIKE_BROADCAST_MINUTES` long, no lesson twice within 30 days;
    the same answer whenever it is asked (lessons withdrawn since drop out)."""
    chosen = township_param(session, township)
    programme = _programme(session, settings, broadcast_day(day, today=county_today()), chosen)
    return _public(session, programme, site_url(request, settings))


def _one_line(value: str) -> str:
    """Text for one M3U line: no line breaks (a title must not start a line of its own) nor control characters."""
    return " ".join(xml_text(_LINE_BREAKS.sub(" ", value)).split())


def render_m3u(programme: Programme, items: list[BroadcastItemPublic]) -> bytes:
    scope = programme.township.name if programme.township else "全县"
    lines = ["#EXTM3U", f"#PLAYLIST:{_one_line(f'党课大家听 {programme.day.isoformat()} {scope}')}"]
    for item in items:
        lines += [f"#EXTINF:{round(item.duration_s)},{_one_line(item.title)}", _one_line(item.audio_url)]
    return ("\n".join(lines) + "\n").encode("utf-8")


@page_router.api_route("/broadcast/{day}.m3u", methods=["GET", "HEAD"])
def broadcast_playlist(day: str, request: Request, session: SessionDep, settings: SettingsDep,
                       township: str | None = None) -> Response:
    """The day's programme as an extended M3U playlist (UTF-8, absolute URLs of the audio editions)."""
    chosen = township_param(session, township)
    programme = _programme(session, settings, broadcast_day(day, today=county_today()), chosen)
    body = render_m3u(programme, _items(session, programme, site_url(request, settings)))
    name = f"broadcast-{programme.day.isoformat()}" + (f"-t{chosen.id}" if chosen else "") + ".m3u"
    return feed_response(request, body, media_type=M3U_TYPE, max_age_s=M3U_MAX_AGE_S,
                         headers={"Content-Disposition": f'inline; filename="{name}"'})


def _day_name(day: date, today: date) -> str:
    label = {0: "今天", 1: "明天", 2: "后天"}.get((day - today).days)
    return f"{day.month}月{day.day}日 星期{WEEKDAYS[day.weekday()]}" + (f"（{label}）" if label else "")


def _day_view(session: Session, programme: Programme, today: date) -> dict[str, Any]:
    return {"date": programme.day.isoformat(), "name": _day_name(programme.day, today),
            "duration_s": programme.duration_s, "m3u": _m3u_path(programme.day, programme.township),
            "items": [{"slot": slot, "lesson": slot.on_air.lesson, "audio_url": asset_url(slot.on_air.audio),
                       "branch": session.get(Organisation, slot.on_air.lesson.branch_id)
                       if slot.on_air.lesson.branch_id else None,
                       "reason": REASON_NAMES.get(slot.reason, slot.reason)} for slot in programme.slots]}


@page_router.get("/broadcast", response_class=HTMLResponse)
def broadcast_page(request: Request, session: SessionDep, settings: SettingsDep, caller: FormCallerDep
                   ) -> Response:
    """Today's programme with a player per lesson and its playlist, then the next seven days'. `?township=ID`
    picks a township's programme (an unknown one: the county's, as the search page ignores unknown filters)."""
    townships = list_organisations(session, kind=OrgKind.TOWNSHIP)
    wanted = path_id(request.query_params.get("township") or "")
    township = next((t for t in townships if t.id == wanted), None)
    today = county_today()
    days = [_day_view(session, _programme(session, settings, today + timedelta(days=n), township), today)
            for n in range(WEEK_DAYS + 1)]
    return page(request, caller, "broadcast.html", {
        "page": "library", "today": days[0], "week": days[1:], "townships": townships, "township": township,
        "minutes": settings.broadcast_minutes})
