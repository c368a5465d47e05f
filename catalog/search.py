"""The search engine: one search over a lesson's title, speaker, series, tags, places, description and transcript,
through a full-text index, ranked and paged by the database.

Indexing (`reindex_lesson`, in the transaction of whatever changed the lesson): every lesson has one
`SearchDocument` holding each part as the segmented tokens of catalog/segmentation.py (words, full pinyin,
initials), and one `SearchEntry` per segment of its current captions (for the sentences that say the words). Who
may find what is decided when searching (`visible`, catalog.lessons.visible_clause: the public finds published
lessons only), so reviewers search their queue with the same engine.

Searching (`search_lessons`): the query is cut into words the same way; the full-text index (FTS5 on SQLite, a GIN
tsvector on PostgreSQL) finds the documents holding every word as a whole token or as the start of one (`党` finds
党课, partially). Each word scores by the best part that holds it: title 8, speaker or series or tags 4, places or
description 2, transcript 1, doubled for a whole word. The head parts are a few dozen tokens, so the score looks
at them with LIKE; the transcript's only question, whole word or partial, is answered by the index again. Ties go to
the newest publication. Only the page of lessons is read back, and only their segments are read for the hits.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Integer, and_, case, column, delete, exists, false, func, literal, or_, table, text
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from catalog.models import (
    Asset,
    AssetKind,
    CaptionVersion,
    Category,
    Lesson,
    LessonTag,
    Organisation,
    ReviewState,
    SearchDocument,
    SearchEntry,
    Series,
    Speaker,
    Tag,
    TranscriptSegment,
)
from catalog.segmentation import add_user_words, index_tokens, marked_snippet, query_tokens

# Per query word, the score of the best part that holds it (doubled for a whole word): head parts in this order.
HEAD_WEIGHTS = (("title", 8), ("people", 4), ("tags", 4), ("places", 2), ("description", 2))
TRANSCRIPT_WEIGHT = 1


@dataclass(frozen=True)
class SearchFilters:
    category_id: int | None = None
    branch_id: int | None = None
    township_id: int | None = None
    language: str | None = None
    year: int | None = None  # recorded in (or, with no recording date, uploaded in)
    featured: bool | None = None
    has_subtitles: bool | None = None
    series_id: int | None = None
    speaker_id: int | None = None
    tag: str | None = None  # a tag's name


@dataclass(frozen=True)
class LessonMatch:
    lesson: Lesson
    score: float


@dataclass(frozen=True)
class SegmentHit:
    lesson_id: str
    start_s: float
    end_s: float
    text: str
    snippet: str  # HTML: the escaped text with the matching words in <mark>


@dataclass(frozen=True)
class SearchResult:
    total: int
    lessons: list[LessonMatch] = field(default_factory=list)
    hits: list[SegmentHit] = field(default_factory=list)


COUNTY_WORDS_TTL_S = 60.0
_county_words: tuple[float, list[str]] | None = None


def county_words(session: Session) -> list[str]:
    """The county's own words for the tokenizer: organisation, speaker and series names. Read at most once a minute
    per process: a search or a reindex must not scan every lesson's speaker each time."""
    global _county_words
    now = time.monotonic()
    if _county_words is not None and now - _county_words[0] < COUNTY_WORDS_TTL_S:
        return _county_words[1]
    names = session.exec(select(Organisation.name)).all()
    speakers = session.exec(select(Speaker.name)).all()
    typed = session.exec(select(Lesson.speaker).where(col(Lesson.speaker).is_not(None)).distinct()).all()
    words = [n for n in (*names, *speakers, *typed) if n]
    _county_words = (now, words)
    return words


def forget_county_words() -> None:
    """Read the county's words again at the next search (a speaker or branch was just added)."""
    global _county_words
    _county_words = None


def _current_segments(session: Session, lesson: Lesson) -> list[TranscriptSegment]:
    if lesson.caption_version is None:
        return []
    return list(session.exec(
        select(TranscriptSegment)
        .join(CaptionVersion, col(CaptionVersion.id) == col(TranscriptSegment.caption_version_id))
        .where(CaptionVersion.lesson_id == lesson.id, CaptionVersion.version == lesson.caption_version)
        .order_by(col(TranscriptSegment.position))
    ).all())


def _tokens(*texts: str | None) -> str:
    return " ".join(dict.fromkeys(t for content in texts if content for t in index_tokens(content)))


def _head_texts(session: Session, lesson: Lesson) -> dict[str, str]:
    speaker = session.get(Speaker, lesson.speaker_id) if lesson.speaker_id else None
    series = session.get(Series, lesson.series_id) if lesson.series_id else None
    category = session.get(Category, lesson.category_id) if lesson.category_id else None
    branch = session.get(Organisation, lesson.branch_id) if lesson.branch_id else None
    township = session.get(Organisation, branch.parent_id) if branch is not None and branch.parent_id else None
    tags = session.exec(select(Tag.name).join(LessonTag, col(LessonTag.tag_id) == col(Tag.id))
                        .where(LessonTag.lesson_id == lesson.id)).all()
    return {
        "title": _tokens(lesson.title),
        "people": _tokens(speaker.name if speaker else lesson.speaker, speaker.title if speaker else None,
                          series.title if series else None),
        "tags": _tokens(*tags),
        "places": _tokens(category.name if category else None, branch.name if branch else None,
                          township.name if township else None),
        "description": _tokens(lesson.description),
    }


def reindex_lesson(session: Session, lesson: Lesson) -> int:
    """Bring the lesson's search document and segment entries in line with it, in the caller's transaction.
    Returns how many segments of its current captions are indexed."""
    session.execute(delete(SearchEntry).where(col(SearchEntry.lesson_id) == lesson.id))
    session.execute(delete(SearchDocument).where(col(SearchDocument.lesson_id) == lesson.id))
    add_user_words(county_words(session))
    segments = [(s, index_tokens(s.text)) for s in _current_segments(session, lesson)]
    for segment, tokens in segments:
        if tokens:
            session.add(SearchEntry(lesson_id=lesson.id, part="transcript", segment_id=segment.id,
                                    tokens=" ".join(tokens)))
    transcript = " ".join(dict.fromkeys(t for _, tokens in segments for t in tokens))
    document = SearchDocument(lesson_id=lesson.id, transcript=transcript)
    for part, head in _head_texts(session, lesson).items():
        setattr(document, part, head)
    session.add(document)
    session.flush()
    return len(segments)


# ---------------------------------------------------------------------------------------------------- searching

_FTS = table("searchdocument_fts", column("rowid", Integer))


def _matching(dialect: str, words: Sequence[str], *, prefix: bool, name: str) -> Any:
    """The full-text condition that a document holds every one of `words` (as a whole token, or with `prefix` also
    as the start of one). Tokens are letters and digits only, so they need no escaping inside the quotes."""
    star = "*" if prefix else ""
    if dialect == "sqlite":
        return text(f"searchdocument_fts MATCH :{name}").bindparams(
            **{name: " AND ".join(f'"{w}"{star}' for w in words)})
    star = ":*" if prefix else ""
    return text(f"searchdocument.tokens_tsv @@ CAST(:{name} AS tsquery)").bindparams(
        **{name: " & ".join(f"'{w}'{star}" for w in words)})


def _documents(dialect: str) -> Any:
    """A SELECT of (document id, lesson id) from the full-text index, to add a `_matching` condition to."""
    if dialect == "sqlite":
        return (select_columns(col(SearchDocument.id), col(SearchDocument.lesson_id)).select_from(_FTS)
                .join(SearchDocument, col(SearchDocument.id) == _FTS.c.rowid))
    return select_columns(col(SearchDocument.id), col(SearchDocument.lesson_id))


def _whole(dialect: str, word: str, name: str) -> Any:
    """A SELECT of the ids of documents holding `word` as a whole token somewhere, through the index."""
    ids = _FTS.c.rowid if dialect == "sqlite" else col(SearchDocument.id)
    return select_columns(ids).where(_matching(dialect, [word], prefix=False, name=name)).correlate(None)


def _word_score(dialect: str, word: str, i: int) -> Any:
    """What `word` adds to a document's score (see the module's docstring)."""
    whens = []
    for part, weight in HEAD_WEIGHTS:
        padded = literal(" ") + getattr(SearchDocument, part) + literal(" ")
        whens.append((padded.like(f"% {word} %"), 2 * weight))
    for part, weight in HEAD_WEIGHTS:
        padded = literal(" ") + getattr(SearchDocument, part)
        whens.append((padded.like(f"% {word}%"), weight))
    whens.append((col(SearchDocument.id).in_(_whole(dialect, word, f"whole_{i}")), 2 * TRANSCRIPT_WEIGHT))
    return case(*whens, else_=TRANSCRIPT_WEIGHT)


def _filtered(stmt: Any, filters: SearchFilters) -> Any:
    if filters.category_id is not None:
        stmt = stmt.where(col(Lesson.category_id) == filters.category_id)
    if filters.branch_id is not None:
        stmt = stmt.where(col(Lesson.branch_id) == filters.branch_id)
    if filters.township_id is not None:
        branches = select(Organisation.id).where(Organisation.parent_id == filters.township_id)
        stmt = stmt.where(col(Lesson.branch_id).in_(branches))
    if filters.language is not None:
        stmt = stmt.where(col(Lesson.language) == filters.language)
    if filters.featured is not None:
        stmt = stmt.where(col(Lesson.featured).is_(filters.featured))
    if filters.series_id is not None:
        stmt = stmt.where(col(Lesson.series_id) == filters.series_id)
    if filters.speaker_id is not None:
        stmt = stmt.where(col(Lesson.speaker_id) == filters.speaker_id)
    if filters.tag is not None:
        tagged = (select(LessonTag.lesson_id).join(Tag, col(Tag.id) == col(LessonTag.tag_id))
                  .where(Tag.name == filters.tag))
        stmt = stmt.where(col(Lesson.id).in_(tagged))
    if filters.year is not None:
        y = filters.year
        recorded = and_(col(Lesson.recorded_on) >= date(y, 1, 1), col(Lesson.recorded_on) <= date(y, 12, 31))
        uploaded = and_(col(Lesson.recorded_on).is_(None), col(Lesson.created_at) >= datetime(y, 1, 1, tzinfo=UTC),
                        col(Lesson.created_at) < datetime(y + 1, 1, 1, tzinfo=UTC))
        stmt = stmt.where(or_(recorded, uploaded))
    if filters.has_subtitles is not None:
        subtitles = exists().where(col(Asset.lesson_id) == col(Lesson.id), col(Asset.kind) == AssetKind.SUBTITLES_VTT)
        stmt = stmt.where(subtitles if filters.has_subtitles else ~subtitles)
    return stmt


def published_only() -> Any:
    return col(Lesson.review_state) == ReviewState.PUBLISHED


def search_lessons(session: Session, query: str, *, visible: Any = None, filters: SearchFilters | None = None,
                   offset: int = 0, limit: int = 20, hits_per_lesson: int = 3) -> SearchResult:
    """Lessons matching every word of `query` among those `visible` lets through (by default: published ones), best
    first, a page of them, and the segments of that page's lessons that say every word (up to `hits_per_lesson`
    each, in time order). Latin letters match in any case; Traditional → Simplified is the caller's."""
    add_user_words(county_words(session))
    words = query_tokens(query)
    if not words:
        return SearchResult(total=0)
    dialect = session.get_bind().dialect.name
    base = _filtered(
        _documents(dialect).join(Lesson, col(Lesson.id) == col(SearchDocument.lesson_id))
        .where(_matching(dialect, words, prefix=True, name="words"), published_only() if visible is None else visible),
        filters or SearchFilters())
    total = session.execute(select_columns(func.count()).select_from(base.subquery())).scalar_one()
    if not total or limit <= 0:
        return SearchResult(total=int(total))
    score = sum((_word_score(dialect, word, i) for i, word in enumerate(words)), start=literal(0))
    newest = func.coalesce(col(Lesson.published_at), col(Lesson.created_at))
    ranked = session.execute(
        base.with_only_columns(col(SearchDocument.lesson_id), score.label("score"))
        .order_by(text("score DESC"), newest.desc(), col(Lesson.id)).offset(offset).limit(limit)
    ).all()
    page = [lesson_id for lesson_id, _ in ranked]
    lessons = {lesson.id: lesson for lesson in session.exec(select(Lesson).where(col(Lesson.id).in_(page))).all()}
    return SearchResult(
        total=int(total),
        lessons=[LessonMatch(lessons[i], float(s)) for i, s in ranked if i in lessons],
        hits=segment_hits(session, page, words, per_lesson=hits_per_lesson),
    )


def _segments_saying(words: Sequence[str]) -> Any:
    """Segment entries holding every word, whole or as the start of a token (tokens are letters and digits)."""
    padded = literal(" ") + col(SearchEntry.tokens)
    return (select_columns(TranscriptSegment).join(SearchEntry, col(SearchEntry.segment_id) == col(TranscriptSegment.id))
            .where(*(padded.like(f"% {w}%") for w in words)))


def segment_hits(session: Session, lesson_ids: Sequence[str], words: Sequence[str], *,
                 per_lesson: int) -> list[SegmentHit]:
    """The first `per_lesson` segments (in time) of each of `lesson_ids` that say every word, in that order."""
    if not lesson_ids or per_lesson <= 0:
        return []
    rows = session.execute(_segments_saying(words).add_columns(col(SearchEntry.lesson_id))
                           .where(col(SearchEntry.lesson_id).in_(lesson_ids))).all()
    found: dict[str, list[TranscriptSegment]] = defaultdict(list)
    for segment, lesson_id in rows:
        found[lesson_id].append(segment)
    hits: list[SegmentHit] = []
    for lesson_id in lesson_ids:
        for s in sorted(found.get(lesson_id, []), key=lambda s: (s.start_s, s.position))[:per_lesson]:
            hits.append(SegmentHit(lesson_id=lesson_id, start_s=s.start_s, end_s=s.end_s, text=s.text,
                                   snippet=marked_snippet(s.text, words)))
    return hits


@dataclass(frozen=True)
class SpokenHit:
    lesson_id: str
    title: str
    start_s: float
    end_s: float
    text: str


def search_segments(session: Session, query: str, *, visible: Any = None, offset: int = 0,
                    limit: int = 50) -> tuple[list[SpokenHit], int]:
    """Every segment of the current captions that says every word of `query`, in lessons `visible` lets through
    (by default: published ones), newest lessons first, then in time; and how many there are. The index finds
    the lessons; only their segments are looked at."""
    add_user_words(county_words(session))
    words = query_tokens(query)
    if not words:
        return [], 0
    dialect = session.get_bind().dialect.name
    lessons = (_documents(dialect).with_only_columns(col(SearchDocument.lesson_id))
               .join(Lesson, col(Lesson.id) == col(SearchDocument.lesson_id))
               .where(_matching(dialect, words, prefix=True, name="words"),
                      published_only() if visible is None else visible).correlate(None))
    stmt = (_segments_saying(words).where(col(SearchEntry.lesson_id).in_(lessons))
            .join(Lesson, col(Lesson.id) == col(SearchEntry.lesson_id)))
    total = session.execute(select_columns(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(
        stmt.add_columns(col(Lesson.id), col(Lesson.title))
        .order_by(func.coalesce(col(Lesson.published_at), col(Lesson.created_at)).desc(), col(Lesson.id),
                  col(TranscriptSegment.start_s), col(TranscriptSegment.position))
        .offset(offset).limit(limit)
    ).all()
    hits = [SpokenHit(lesson_id=lesson_id, title=title, start_s=s.start_s, end_s=s.end_s, text=s.text)
            for s, lesson_id, title in rows]
    return hits, int(total)


def lessons_matching(session: Session, query: str) -> Any:
    """A condition on `Lesson.id`: the lesson holds every word of `query` (for lists filtered by words; nothing
    matches a query without words)."""
    add_user_words(county_words(session))
    words = query_tokens(query)
    if not words:
        return false()
    dialect = session.get_bind().dialect.name
    ids = (_documents(dialect).with_only_columns(col(SearchDocument.lesson_id))
           .where(_matching(dialect, words, prefix=True, name="list_words")).correlate(None))
    return col(Lesson.id).in_(ids)


def lesson_ids(session: Session) -> list[str]:
    """Every lesson's id, for `weike search reindex`."""
    return list(session.exec(select(Lesson.id).order_by(col(Lesson.created_at))).all())


def unindexed_lesson_ids(session: Session) -> list[str]:
    """Lessons without a search document (say, published before migration 0006), for `weike serve` to index."""
    indexed = select(SearchDocument.lesson_id)
    return list(session.exec(select(Lesson.id).where(col(Lesson.id).not_in(indexed))
                             .order_by(col(Lesson.created_at))).all())
