"""Counting plays for popularity (catalog/popularity.py): the lesson page's beacon, sent once per page view when
the player first plays. No body, no credentials read, nothing about the client stored; downloads are counted by
the asset route (api/routes/lessons.py) when a download link is followed."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlmodel import Session

from api.deps import SessionDep
from api.schemas import ErrorPublic
from catalog.errors import LessonNotFound
from catalog.lessons import get_lesson
from catalog.models import Asset, AssetKind, Lesson, ReviewState
from catalog.popularity import count

router = APIRouter(prefix="/api/v1", tags=["lessons"])


def client_address(request: Request) -> str:
    """Who is asking, for the repeat guard only (hashed, never stored). Behind the reverse proxy uvicorn puts the
    X-Forwarded-For address here when the proxy is trusted (`--forwarded-allow-ips`, 127.0.0.1 by default)."""
    return request.client.host if request.client else ""


@router.post("/lessons/{lesson_id}/plays", status_code=204, response_class=Response,
             responses={404: {"model": ErrorPublic}})
def count_play(lesson_id: str, request: Request, session: SessionDep) -> Response:
    """One play of a published lesson, counted once a day per client; 404 for anything else, as for a lesson that
    does not exist."""
    lesson = get_lesson(session, lesson_id[:64])
    if lesson is None or lesson.review_state != ReviewState.PUBLISHED:
        raise LessonNotFound(lesson_id)
    count(session, lesson.id, "plays", client=client_address(request))
    return Response(status_code=204)


# What a visitor keeps (the lesson page's download links): a rendition, the audio edition, the subtitles.
DOWNLOADABLE = {AssetKind.RENDITION, AssetKind.AUDIO_EDITION, AssetKind.SUBTITLES_SRT, AssetKind.SUBTITLES_VTT,
                AssetKind.TRANSCRIPT, AssetKind.OPEN_CAPTIONS}


def count_download(session: Session, request: Request, lesson: Lesson, asset: Asset) -> None:
    """A download link followed (`?download=1` on the asset route): one download of a published lesson, counted
    once a day per client whatever it took (a phone resuming with Range requests asks several times)."""
    if lesson.review_state == ReviewState.PUBLISHED and asset.kind in DOWNLOADABLE:
        if count(session, lesson.id, "downloads", client=client_address(request)):
            # Now, not when the request's session ends: that is after the file has streamed, and on SQLite the
            # write would hold the database's lock for as long as a slow phone takes to download.
            session.commit()
