"""The baseline bench/library.py measures Weike's search against: the LIKE scan that `GET /api/v1/lessons?q=` ran
before the search index (each word, as typed or in Simplified, anywhere in the title, the speaker or the published
captions of a published lesson; newest first), served over HTTP by its own small app so that both go through a
socket, a web framework and a database session.

    WEIKE_DATABASE_URL=... uvicorn bench.like_search:app --port 8001
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import FastAPI, Query
from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from catalog.db import make_engine
from catalog.models import CaptionVersion, Lesson, ReviewState, TranscriptSegment
from transcode.asr_text import to_simplified


def _contains(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matches(column: Any, spellings: tuple[str, ...]) -> Any:
    return or_(*(col(column).ilike(_contains(s), escape="\\") for s in spellings))


def like_search(session: Session, q: str, *, limit: int) -> tuple[list[str], int]:
    stmt = select(Lesson.id).where(col(Lesson.review_state) == ReviewState.PUBLISHED)
    for word in list(dict.fromkeys(q.split()))[:8]:
        spellings = tuple(dict.fromkeys((word, to_simplified(word))))
        spoken = (select(Lesson.id).join(CaptionVersion, col(CaptionVersion.lesson_id) == col(Lesson.id))
                  .join(TranscriptSegment, col(TranscriptSegment.caption_version_id) == col(CaptionVersion.id))
                  .where(col(CaptionVersion.version) == col(Lesson.caption_version),
                         _matches(TranscriptSegment.text, spellings)))
        stmt = stmt.where(or_(_matches(Lesson.title, spellings), _matches(Lesson.speaker, spellings),
                              col(Lesson.id).in_(spoken)))
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    ids = session.exec(stmt.order_by(col(Lesson.created_at).desc(), col(Lesson.id)).limit(limit)).all()
    return list(ids), int(total)


def create_app(database_url: str) -> FastAPI:
    engine = make_engine(database_url)
    app = FastAPI()

    @app.get("/like")
    def search(q: Annotated[str, Query(max_length=100)], limit: int = 10) -> dict[str, object]:
        with Session(engine) as session:
            ids, total = like_search(session, q, limit=limit)
        return {"total": total, "items": [{"id": i} for i in ids]}

    return app


app = create_app(os.environ["WEIKE_DATABASE_URL"]) if os.environ.get("WEIKE_DATABASE_URL") else FastAPI()
