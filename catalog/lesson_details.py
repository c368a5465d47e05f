"""A lesson's details after upload: title, description, tags, and where it sits in the library (its speaker from
the lecturer pool, its series and episode number).

Who may change what is catalog/lifecycle.py's: `may_edit_details` for title, description and tags (the county; the
lesson's branch until it is published), `may_manage_library` for speaker, series and episode (the county only).
Only fields that really change are checked against those rules and written; they go into one audit row
(`edit_details`, the changes as JSON in its comment) and the lesson is reindexed, all in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import Session, col, select

from catalog.audit import record
from catalog.errors import EpisodeTaken, Forbidden, InvalidDetails
from catalog.fields import Change, describe_changes, free_text, one_line
from catalog.lessons import lesson_facts
from catalog.lifecycle import Viewer, may_edit_details, may_manage_library
from catalog.models import Lesson, Series, Speaker, utcnow
from catalog.search import reindex_lesson
from catalog.tags import Variant, normalise_tags, set_lesson_tags, tags_of

MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 5000
MAX_EPISODE = 9999
BRANCH_FIELDS = frozenset({"title", "description", "tags"})
COUNTY_FIELDS = frozenset({"series_id", "episode", "speaker_id"})
FIELDS = BRANCH_FIELDS | COUNTY_FIELDS


def _cleaned(session: Session, lesson: Lesson, changes: Mapping[str, Any], variant: Variant | None
             ) -> dict[str, Any]:
    """The requested values, cleaned and checked (InvalidDetails), with series and episode made consistent."""
    unknown = set(changes) - FIELDS
    if unknown:
        raise InvalidDetails(f"unknown lesson fields {sorted(unknown)}")
    wanted: dict[str, Any] = {}
    if "title" in changes:
        wanted["title"] = one_line(changes["title"], max_chars=MAX_TITLE_CHARS, what="课程标题")
    if "description" in changes:
        wanted["description"] = free_text(changes["description"], max_chars=MAX_DESCRIPTION_CHARS, what="课程简介")
    if "tags" in changes:
        wanted["tags"] = sorted(normalise_tags(changes["tags"] or [], variant=variant))
    if "speaker_id" in changes:
        speaker_id = changes["speaker_id"]
        if speaker_id is not None and session.get(Speaker, speaker_id) is None:
            raise InvalidDetails(f"no speaker {speaker_id}", message="讲师库里没有这位讲师")
        wanted["speaker_id"] = speaker_id
    if "series_id" in changes:
        series_id = changes["series_id"]
        if series_id is not None and session.get(Series, series_id) is None:
            raise InvalidDetails(f"no series {series_id}", message="没有这个系列")
        wanted["series_id"] = series_id
    if "episode" in changes:
        episode = changes["episode"]
        if episode is not None and not (isinstance(episode, int) and 1 <= episode <= MAX_EPISODE):
            raise InvalidDetails(f"episode {episode!r}", message=f"集数应为 1 到 {MAX_EPISODE} 之间的整数")
        wanted["episode"] = episode
    if wanted.get("series_id", lesson.series_id) is None:
        if wanted.get("episode") is not None:
            raise InvalidDetails("episode without a series", message="请先选择系列，再填写集数")
        if "series_id" in wanted:
            wanted["episode"] = None  # out of its series: no episode number either
    return wanted


def _check_episode_free(session: Session, lesson: Lesson, series_id: int | None, episode: int | None) -> None:
    if series_id is None or episode is None:
        return
    taken = session.exec(select(Lesson.id, Lesson.title).where(
        Lesson.series_id == series_id, Lesson.episode == episode, col(Lesson.id) != lesson.id)).first()
    if taken is not None:
        raise EpisodeTaken(f"series {series_id} episode {episode} is lesson {taken[0]}",
                           message=f"这个系列的第 {episode} 集已经是《{taken[1]}》了，请换一个集数")


def update_lesson_details(session: Session, lesson: Lesson, viewer: Viewer, *, changes: Mapping[str, Any],
                          variant: Variant | None = None) -> Lesson:
    """Apply `changes` (any of title, description, tags, speaker_id, series_id, episode; absent fields stay as
    they are, None clears). `variant` converts tag names (the API passes Traditional -> Simplified).

    Raises Forbidden (a field the viewer may not change, checked only for fields that change), InvalidDetails,
    EpisodeTaken (another lesson of the series has that episode number). Nothing changes: no audit row."""
    wanted = _cleaned(session, lesson, changes, variant)
    current_tags = tags_of(session, lesson.id) if "tags" in wanted else []
    diff: dict[str, Change] = {}
    for field, value in wanted.items():
        before = current_tags if field == "tags" else getattr(lesson, field)
        if before != value:
            diff[field] = (before, value)
    if not diff:
        return lesson
    facts = lesson_facts(session, lesson)
    county_changes = sorted(set(diff) & COUNTY_FIELDS)
    if county_changes and not may_manage_library(viewer):
        raise Forbidden(f"{viewer.username} may not change {county_changes} of {lesson.id}",
                        message="讲师、系列和集数由县审核员设置")
    if not may_edit_details(viewer, facts):
        raise Forbidden(f"{viewer.username} may not edit {lesson.id}",
                        message="没有权限修改这节课的信息（已发布的课程请联系县里审核员修改）")
    _check_episode_free(session, lesson, wanted.get("series_id", lesson.series_id),
                        wanted.get("episode", lesson.episode))
    for field, (_, value) in diff.items():
        if field == "tags":
            set_lesson_tags(session, lesson.id, value)
        else:
            setattr(lesson, field, value)
    if "speaker_id" in diff and lesson.speaker_id is not None:
        speaker = session.get(Speaker, lesson.speaker_id)
        assert speaker is not None
        if lesson.speaker != speaker.name:
            diff["speaker"] = (lesson.speaker, speaker.name)
            lesson.speaker = speaker.name  # display and search read the free-text name
    lesson.updated_at = utcnow()
    session.add(lesson)
    session.flush()
    reindex_lesson(session, lesson)
    assert viewer.username is not None
    record(session, actor=viewer.username, action="edit_details", lesson_id=lesson.id,
           subject=",".join(sorted(diff))[:200], from_state=lesson.review_state, to_state=lesson.review_state,
           comment=describe_changes(diff))
    return lesson
