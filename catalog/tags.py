"""Tags: short free words on lessons (乡村振兴, 防汛, 电商), one row per distinct name, shared by every lesson.

A name is normalised before it is looked up or stored, so that 「 乡村振兴 」, ＃乡村振兴 and 鄉村振興 are one tag:
Unicode NFKC (full-width letters and digits become ASCII), control and format characters dropped, runs of spaces
made one, a leading # dropped, Latin letters lower-cased, and, where the caller hands in a `variant` (the API
passes Traditional -> Simplified), that conversion. What is left must be 1 to MAX_TAG_CHARS characters.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from catalog.errors import InvalidDetails
from catalog.models import Lesson, LessonTag, ReviewState, Tag

MAX_TAG_CHARS = 32
MAX_TAGS_PER_LESSON = 10

Variant = Callable[[str], str]


def normalise_tag(raw: str, *, variant: Variant | None = None) -> str:
    """The stored form of a tag name; InvalidDetails when nothing usable is left or it is too long."""
    text = unicodedata.normalize("NFKC", raw or "")
    text = "".join(" " if ch.isspace() else ch for ch in text
                   if ch.isspace() or not unicodedata.category(ch).startswith("C"))
    text = " ".join(text.split()).lstrip("#").strip()
    if variant is not None:
        text = variant(text)
    text = text.lower()
    if not text:
        raise InvalidDetails(f"empty tag {raw!r}", message="标签不能为空")
    if len(text) > MAX_TAG_CHARS:
        raise InvalidDetails(f"tag of {len(text)} characters", message=f"标签最多 {MAX_TAG_CHARS} 个字：{text[:12]}…")
    return text


def normalise_tags(raws: Iterable[str], *, variant: Variant | None = None) -> list[str]:
    """Each name normalised, duplicates dropped (first one kept), at most MAX_TAGS_PER_LESSON of them."""
    names = list(dict.fromkeys(normalise_tag(raw, variant=variant) for raw in raws))
    if len(names) > MAX_TAGS_PER_LESSON:
        raise InvalidDetails(f"{len(names)} tags", message=f"每节课最多 {MAX_TAGS_PER_LESSON} 个标签")
    return names


def tags_of(session: Session, lesson_id: str) -> list[str]:
    """The lesson's tag names, alphabetical."""
    return tags_by_lesson(session, [lesson_id]).get(lesson_id, [])


def tags_by_lesson(session: Session, lesson_ids: Sequence[str]) -> dict[str, list[str]]:
    """Tag names of several lessons in one query (for a page of summaries)."""
    if not lesson_ids:
        return {}
    rows = session.exec(
        select(LessonTag.lesson_id, Tag.name).join(Tag, col(Tag.id) == col(LessonTag.tag_id))
        .where(col(LessonTag.lesson_id).in_(list(lesson_ids))).order_by(col(Tag.name))
    ).all()
    found: dict[str, list[str]] = defaultdict(list)
    for lesson_id, name in rows:
        found[lesson_id].append(name)
    return dict(found)


def tag_for_name(session: Session, name: str) -> Tag:
    """The tag called `name` (already normalised), created when new."""
    tag = session.exec(select(Tag).where(Tag.name == name)).first()
    if tag is not None:
        return tag
    try:
        with session.begin_nested():  # another request may be creating the same tag right now
            tag = Tag(name=name)
            session.add(tag)
    except IntegrityError:
        tag = session.exec(select(Tag).where(Tag.name == name)).one()
    return tag


def set_lesson_tags(session: Session, lesson_id: str, names: Sequence[str]) -> None:
    """Replace the lesson's tags with `names` (already normalised). Tags left without lessons stay: they cost a
    row and may come back."""
    wanted = {tag_for_name(session, name).id for name in names}
    session.execute(delete(LessonTag).where(col(LessonTag.lesson_id) == lesson_id))
    for tag_id in wanted:
        assert tag_id is not None
        session.add(LessonTag(lesson_id=lesson_id, tag_id=tag_id))
    session.flush()


def list_tags(session: Session, *, prefix: str | None = None, limit: int = 200) -> list[tuple[str, int]]:
    """Tags on published lessons with how many published lessons carry each, most used first. A tag only on
    unpublished lessons is not listed: its name could tell what is still under review."""
    lessons = func.count(col(LessonTag.lesson_id))
    stmt = (select(Tag.name, lessons).join(LessonTag, col(LessonTag.tag_id) == col(Tag.id))
            .join(Lesson, col(Lesson.id) == col(LessonTag.lesson_id))
            .where(col(Lesson.review_state) == ReviewState.PUBLISHED)
            .group_by(col(Tag.name)).order_by(lessons.desc(), col(Tag.name)).limit(limit))
    if prefix:
        stmt = stmt.where(col(Tag.name).startswith(prefix, autoescape=True))
    return [(name, int(count)) for name, count in session.exec(stmt).all()]
