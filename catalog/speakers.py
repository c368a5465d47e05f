"""Speakers: the county's lecturer pool (讲师库), each with a name, a title or unit and an optional photo.

Reviewers and administrators create and change them (catalog/lifecycle.py `may_manage_library`), every change with
an audit row. A lesson names its speaker through `Lesson.speaker_id` and keeps the free-text `speaker` in step
with the name, since display and search read it; renaming a speaker renames it on its lessons and rebuilds their
search documents, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from catalog.audit import record
from catalog.errors import Forbidden, InvalidDetails, SpeakerNotFound
from catalog.fields import Change, describe_changes, free_text, one_line, optional_line
from catalog.lifecycle import Viewer, may_manage_library
from catalog.models import Lesson, ReviewState, Speaker, utcnow
from catalog.search import forget_county_words, reindex_lesson

MAX_NAME_CHARS = 100
MAX_TITLE_CHARS = 200
MAX_BIO_CHARS = 2000
EDITABLE = ("name", "title", "bio")


def require_manager(viewer: Viewer) -> str:
    """The viewer's name if they may manage speakers (checked before a photo is decoded); Forbidden otherwise."""
    if not may_manage_library(viewer) or viewer.username is None:
        raise Forbidden(f"{viewer.username} ({viewer.role}) may not manage speakers",
                        message="只有县审核员和管理员可以管理讲师库")
    return viewer.username


def _subject(speaker: Speaker) -> str:
    return f"speaker:{speaker.id} {speaker.name}"[:200]


def get_speaker(session: Session, speaker_id: int) -> Speaker:
    speaker = session.get(Speaker, speaker_id)
    if speaker is None:
        raise SpeakerNotFound(f"speaker {speaker_id}")
    return speaker


def list_speakers(session: Session, *, q: str | None = None, offset: int = 0, limit: int = 50
                  ) -> tuple[list[Speaker], int]:
    """Speakers by name (a page of them) and how many match; `q`: part of the name or title."""
    stmt = select(Speaker)
    words = (q or "").split()
    for word in words:
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(col(Speaker.name).ilike(pattern, escape="\\"),
                              col(Speaker.title).ilike(pattern, escape="\\")))
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    page = session.exec(stmt.order_by(col(Speaker.name), col(Speaker.id)).offset(offset).limit(limit)).all()
    return list(page), int(total)


def lesson_counts(session: Session, speaker_ids: list[int]) -> dict[int, int]:
    """Published lessons per speaker."""
    if not speaker_ids:
        return {}
    rows = session.exec(
        select(Lesson.speaker_id, func.count(col(Lesson.id)))
        .where(col(Lesson.speaker_id).in_(speaker_ids), col(Lesson.review_state) == ReviewState.PUBLISHED)
        .group_by(col(Lesson.speaker_id))
    ).all()
    return {int(speaker_id): int(count) for speaker_id, count in rows if speaker_id is not None}


def _cleaned(changes: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidDetails(f"unknown speaker fields {sorted(unknown)}")
    cleaned: dict[str, Any] = {}
    if "name" in changes:
        cleaned["name"] = one_line(changes["name"], max_chars=MAX_NAME_CHARS, what="讲师姓名")
    if "title" in changes:
        cleaned["title"] = optional_line(changes["title"], max_chars=MAX_TITLE_CHARS, what="职务或单位")
    if "bio" in changes:
        cleaned["bio"] = free_text(changes["bio"], max_chars=MAX_BIO_CHARS, what="讲师简介")
    return cleaned


def create_speaker(session: Session, viewer: Viewer, *, name: str, title: str | None = None,
                   bio: str | None = None) -> Speaker:
    actor = require_manager(viewer)
    speaker = Speaker(**_cleaned({"name": name, "title": title, "bio": bio}))
    session.add(speaker)
    session.flush()
    forget_county_words()  # a lesson given this speaker is indexed with the name as one word
    record(session, actor=actor, action="speaker_create", subject=_subject(speaker),
           comment=describe_changes({k: (None, getattr(speaker, k)) for k in EDITABLE if getattr(speaker, k)}))
    return speaker


def update_speaker(session: Session, speaker: Speaker, viewer: Viewer, *, changes: Mapping[str, Any]) -> Speaker:
    """Change the given fields (name, title, bio); a new name goes onto the speaker's lessons and into the search
    index of the published ones. No audit row when nothing changes."""
    actor = require_manager(viewer)
    diff: dict[str, Change] = {}
    for field, value in _cleaned(changes).items():
        if getattr(speaker, field) != value:
            diff[field] = (getattr(speaker, field), value)
            setattr(speaker, field, value)
    if not diff:
        return speaker
    speaker.updated_at = utcnow()
    session.add(speaker)
    session.flush()
    if "name" in diff or "title" in diff:  # both are in the lessons' search documents
        rename_on_lessons(session, speaker)
    record(session, actor=actor, action="speaker_update", subject=_subject(speaker), comment=describe_changes(diff))
    return speaker


def rename_on_lessons(session: Session, speaker: Speaker) -> None:
    """The new name on every lesson of the speaker, and in their search documents (every lesson has one: reviewers
    search unpublished ones too)."""
    forget_county_words()  # the tokenizer learns the new name before the documents are rebuilt
    lessons = session.exec(select(Lesson).where(Lesson.speaker_id == speaker.id)).all()
    for lesson in lessons:
        lesson.speaker = speaker.name
        session.add(lesson)
    session.flush()
    for lesson in lessons:
        reindex_lesson(session, lesson)


def set_speaker_photo(session: Session, speaker: Speaker, viewer: Viewer, *, key: str) -> str | None:
    """Point the speaker at a newly stored photo; returns the key of the one it replaces (the caller removes it
    from the store once this transaction has committed)."""
    actor = require_manager(viewer)
    previous = speaker.photo_key
    speaker.photo_key = key
    speaker.updated_at = utcnow()
    session.add(speaker)
    session.flush()
    record(session, actor=actor, action="speaker_photo", subject=_subject(speaker),
           comment=describe_changes({"photo_key": (previous, key)}))
    return previous if previous != key else None
