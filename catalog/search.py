"""The search engine: one search over a lesson's title, speaker, series, tags, places, description and transcript,
through a full-text index that also ranks, filters and pages.

Indexing (`reindex_lesson`, in the transaction of whatever changed the lesson): every lesson, in any state, has
one `SearchDocument` holding each part as the segmented tokens of catalog/segmentation.py (words, full pinyin,
initials) and its flags (published, featured, branch, township, category, language, year, subtitles, series,
speaker, tags), and one `SearchEntry` per segment of its current captions (for the sentences that say the words).

Searching (`search_lessons`): the query is cut into words the same way; the index finds the documents holding
every word as a whole token or as the start of one (`党` finds 党课, partially) and every flag the filters ask
for, and ranks a page of them (catalog/search_ranking.py: title and other head parts first, then transcripts that
say every word whole, then partial matches). The sentences that say the words are looked for only in the page's
lessons (`segment_hits`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, delete, false, func, literal
from sqlalchemy import select as select_columns
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction
from sqlmodel import Session, col, select

from catalog.lifecycle import Viewer
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
from catalog.search_ranking import IndexQuery, documents, prefer_the_index, prefixed, ranked_documents
from catalog.segmentation import add_user_words, index_tokens, marked_snippet, query_tokens
from catalog.visibility import sees_only_published, visible_clause


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


def _parts(session: Session, lesson: Lesson) -> dict[str, str]:
    """The document's head parts (as tokens) and its flags (see `SearchDocument.flags`)."""
    speaker = session.get(Speaker, lesson.speaker_id) if lesson.speaker_id else None
    series = session.get(Series, lesson.series_id) if lesson.series_id else None
    category = session.get(Category, lesson.category_id) if lesson.category_id else None
    branch = session.get(Organisation, lesson.branch_id) if lesson.branch_id else None
    township = session.get(Organisation, branch.parent_id) if branch is not None and branch.parent_id else None
    tags = session.exec(select(Tag).join(LessonTag, col(LessonTag.tag_id) == col(Tag.id))
                        .where(LessonTag.lesson_id == lesson.id)).all()
    subtitles = session.exec(select(Asset.id).where(Asset.lesson_id == lesson.id,
                                                    Asset.kind == AssetKind.SUBTITLES_VTT)).first()
    year = lesson.recorded_on.year if lesson.recorded_on else lesson.created_at.year
    flags = [
        "_published" if lesson.review_state == ReviewState.PUBLISHED else "",
        "_featured" if lesson.featured else "",
        "_subs" if subtitles is not None else "",
        f"_b{branch.id}" if branch else "",
        f"_t{township.id}" if township else "",
        f"_c{category.id}" if category else "",
        f"_l{lesson.language}" if lesson.language.isalnum() else "",
        f"_y{year}",
        f"_s{series.id}" if series else "",
        f"_p{speaker.id}" if speaker else "",
        *(f"_g{tag.id}" for tag in tags),
    ]
    return {
        "title": _tokens(lesson.title),
        "people": _tokens(speaker.name if speaker else lesson.speaker, speaker.title if speaker else None,
                          series.title if series else None),
        "tags": _tokens(*(tag.name for tag in tags)),
        "places": _tokens(category.name if category else None, branch.name if branch else None,
                          township.name if township else None),
        "description": _tokens(lesson.description),
        "flags": " ".join(f for f in flags if f),
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
    for part, value in _parts(session, lesson).items():
        setattr(document, part, value)
    session.add(document)
    session.flush()
    return len(segments)


# ---------------------------------------------------------------------------------------------------- searching


class position_of(GenericFunction[int]):
    """Where a string first occurs in another (1-based, 0 when absent): SQLite's instr, PostgreSQL's strpos."""

    type = Integer()
    inherit_cache = True


@compiles(position_of)
def _instr(element: Any, compiler: Any, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(position_of, "postgresql")
def _strpos(element: Any, compiler: Any, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


def _flags_for(session: Session, filters: SearchFilters, *, public: bool) -> tuple[tuple[str, bool], ...] | None:
    """The flags that stand for `filters` (and, for the public, publication); None when nothing can match."""
    f = filters
    flags: list[tuple[str, bool]] = [("_published", True)] if public else []
    for prefix, value in (("_c", f.category_id), ("_b", f.branch_id), ("_t", f.township_id), ("_y", f.year),
                          ("_s", f.series_id), ("_p", f.speaker_id)):
        if value is not None:
            flags.append((f"{prefix}{value}", True))
    if f.language is not None:
        if not f.language.isalnum():
            return None
        flags.append((f"_l{f.language}", True))
    if f.featured is not None:
        flags.append(("_featured", f.featured))
    if f.has_subtitles is not None:
        flags.append(("_subs", f.has_subtitles))
    if f.tag is not None:
        tag_id = session.exec(select(Tag.id).where(Tag.name == f.tag)).first()
        if tag_id is None:
            return None
        flags.append((f"_g{tag_id}", True))
    return tuple(flags)  # FTS5 cannot start with NOT: the words always come first


def published_only() -> Any:
    return col(Lesson.review_state) == ReviewState.PUBLISHED


def search_lessons(session: Session, query: str, *, viewer: Viewer | None = None,
                   filters: SearchFilters | None = None, offset: int = 0, limit: int = 20,
                   hits_per_lesson: int = 3) -> SearchResult:
    """Lessons matching every word of `query` that `viewer` may see (None: the public, who see published lessons),
    best first, a page of them, and the segments of that page's lessons that say every word (up to
    `hits_per_lesson` each, in time order). Latin letters match in any case; Traditional → Simplified is the
    caller's."""
    add_user_words(county_words(session))
    words = tuple(query_tokens(query))
    public = sees_only_published(viewer)
    flags = _flags_for(session, filters or SearchFilters(), public=public)
    if not words or flags is None:
        return SearchResult(total=0)
    visible = None if public or viewer is None else visible_clause(viewer)
    total, ranked = ranked_documents(session, IndexQuery(words, flags), public=public, visible=visible, offset=offset,
                            limit=max(limit, 0))
    page = [lesson_id for lesson_id, _ in ranked]
    lessons = {lesson.id: lesson for lesson in session.exec(select(Lesson).where(col(Lesson.id).in_(page))).all()}
    return SearchResult(
        total=total,
        lessons=[LessonMatch(lessons[i], s) for i, s in ranked if i in lessons],
        hits=segment_hits(session, page, words, per_lesson=hits_per_lesson),
    )


def _says(words: Sequence[str]) -> list[Any]:
    """Conditions that a segment entry holds every word, whole or as the start of a token (only whole where
    `search_ranking.prefixed` says so; tokens are lower-case letters and digits, space-separated): a substring search,
    cheaper than LIKE, on both databases."""
    padded = literal(" ") + col(SearchEntry.tokens) + literal(" ")
    return [position_of(padded, literal(f" {w}" if prefixed(w, words) else f" {w} ")) > 0 for w in words]


def _segments_saying(words: Sequence[str]) -> Any:
    """Segment entries holding every word (see `_says`)."""
    return (select_columns(TranscriptSegment).join(SearchEntry, col(SearchEntry.segment_id) == col(TranscriptSegment.id))
            .where(*_says(words)))


def segment_hits(session: Session, lesson_ids: Sequence[str], words: Sequence[str], *,
                 per_lesson: int) -> list[SegmentHit]:
    """The first `per_lesson` segments (in time) of each of `lesson_ids` that say every word, in that order."""
    if not lesson_ids or per_lesson <= 0:
        return []
    n = func.row_number().over(partition_by=col(SearchEntry.lesson_id),
                               order_by=(col(TranscriptSegment.start_s), col(TranscriptSegment.position)))
    saying = (select_columns(col(SearchEntry.lesson_id), col(TranscriptSegment.start_s), col(TranscriptSegment.end_s),
                             col(TranscriptSegment.text), n.label("n"))
              .join(TranscriptSegment, col(TranscriptSegment.id) == col(SearchEntry.segment_id))
              .where(col(SearchEntry.lesson_id).in_(lesson_ids), *_says(words))
              .subquery())
    rows = session.execute(select_columns(saying).where(saying.c.n <= per_lesson)).all()
    found: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        found[row.lesson_id].append(row)
    return [SegmentHit(lesson_id=lesson_id, start_s=r.start_s, end_s=r.end_s, text=r.text,
                       snippet=marked_snippet(r.text, words))
            for lesson_id in lesson_ids for r in sorted(found.get(lesson_id, []), key=lambda r: r.n)]


@dataclass(frozen=True)
class SpokenHit:
    lesson_id: str
    title: str
    start_s: float
    end_s: float
    text: str


def search_segments(session: Session, query: str, *, viewer: Viewer | None = None, offset: int = 0,
                    limit: int = 50) -> tuple[list[SpokenHit], int]:
    """Every segment of the current captions that says every word of `query`, in lessons `viewer` may see (None:
    the public), newest lessons first, then in time; and how many there are. The index finds the lessons; only
    their segments are looked at."""
    add_user_words(county_words(session))
    words = tuple(query_tokens(query))
    if not words:
        return [], 0
    dialect = prefer_the_index(session)
    lessons = (documents(dialect).with_only_columns(col(SearchDocument.lesson_id))
               .join(Lesson, col(Lesson.id) == col(SearchDocument.lesson_id))
               .where(IndexQuery(words).condition(dialect, "words"),
                      published_only() if viewer is None else visible_clause(viewer)).correlate(None))
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
    words = tuple(query_tokens(query))
    if not words:
        return false()
    dialect = prefer_the_index(session)
    ids = (documents(dialect).with_only_columns(col(SearchDocument.lesson_id))
           .where(IndexQuery(words).condition(dialect, "list_words")).correlate(None))
    return col(Lesson.id).in_(ids)


def lesson_ids(session: Session) -> list[str]:
    """Every lesson's id, for `weike search reindex`."""
    return list(session.exec(select(Lesson.id).order_by(col(Lesson.created_at))).all())


def unindexed_lesson_ids(session: Session) -> list[str]:
    """Lessons without a search document (say, published before migration 0006), for `weike serve` to index."""
    indexed = select(SearchDocument.lesson_id)
    return list(session.exec(select(Lesson.id).where(col(Lesson.id).not_in(indexed))
                             .order_by(col(Lesson.created_at))).all())
