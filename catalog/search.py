"""The search engine: one search over the title, speaker, category name and published transcript of published
lessons, through the full-text index of `SearchEntry` rows (migration 0005).

Indexing (`reindex_lesson`, in the transaction of whatever changed the lesson): a published lesson gets one entry
per part (title, speaker, category) and one per segment of its published caption version, each holding the
segmented tokens of catalog/segmentation.py; any other lesson gets none. Searching (`search_lessons`): the query is
cut into words the same way; the index finds the entries holding each word as a whole token or as the start of one
(`党` finds 党课, partially), a lesson matches when every word is somewhere in it, and a transcript segment is a hit
when every word is in that segment. The database narrows; ranking and snippets are done here on what it returns:
per query word, the best part it matched (title 8, speaker 4, category 2, transcript 1), doubled for a whole word.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Integer, and_, column, delete, exists, or_, text
from sqlalchemy import select as select_columns
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from catalog.models import (
    Asset,
    AssetKind,
    CaptionVersion,
    Category,
    Lesson,
    Organisation,
    ReviewState,
    SearchEntry,
    TranscriptSegment,
)
from catalog.segmentation import add_user_words, index_tokens, marked_snippet, query_tokens, token_match

PART_WEIGHTS = {"title": 8.0, "speaker": 4.0, "category": 2.0, "transcript": 1.0}
MAX_MATCHED_ENTRIES = 20000  # entries the database hands back for ranking; a query as broad as 的 stops there


@dataclass(frozen=True)
class SearchFilters:
    category_id: int | None = None
    branch_id: int | None = None
    township_id: int | None = None
    language: str | None = None
    year: int | None = None  # recorded in (or, with no recording date, uploaded in)
    featured: bool | None = None
    has_subtitles: bool | None = None


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
    """The county's own words for the tokenizer: organisation names and speakers. Read at most once a minute per
    process: a search or a reindex must not scan every lesson's speaker each time."""
    global _county_words
    now = time.monotonic()
    if _county_words is not None and now - _county_words[0] < COUNTY_WORDS_TTL_S:
        return _county_words[1]
    names = session.exec(select(Organisation.name)).all()
    speakers = session.exec(select(Lesson.speaker).where(col(Lesson.speaker).is_not(None)).distinct()).all()
    words = [n for n in (*names, *speakers) if n]
    _county_words = (now, words)
    return words


def _published_segments(session: Session, lesson: Lesson) -> list[TranscriptSegment]:
    if lesson.caption_version is None:
        return []
    return list(session.exec(
        select(TranscriptSegment)
        .join(CaptionVersion, col(CaptionVersion.id) == col(TranscriptSegment.caption_version_id))
        .where(CaptionVersion.lesson_id == lesson.id, CaptionVersion.version == lesson.caption_version)
        .order_by(col(TranscriptSegment.position))
    ).all())


def reindex_lesson(session: Session, lesson: Lesson) -> int:
    """Bring the lesson's index entries in line with it, in the caller's transaction: none unless it is published;
    otherwise its title, speaker, category and published transcript. Returns how many entries it has now."""
    session.execute(delete(SearchEntry).where(col(SearchEntry.lesson_id) == lesson.id))
    if lesson.review_state != ReviewState.PUBLISHED:
        session.flush()
        return 0
    add_user_words(county_words(session))
    category = session.get(Category, lesson.category_id) if lesson.category_id else None
    pieces: list[tuple[str, int | None, str]] = [("title", None, lesson.title)]
    if lesson.speaker:
        pieces.append(("speaker", None, lesson.speaker))
    if category is not None:
        pieces.append(("category", None, category.name))
    pieces += [("transcript", s.id, s.text) for s in _published_segments(session, lesson)]
    count = 0
    for part, segment_id, content in pieces:
        tokens = index_tokens(content)
        if tokens:
            session.add(SearchEntry(lesson_id=lesson.id, part=part, segment_id=segment_id, tokens=" ".join(tokens)))
            count += 1
    session.flush()
    return count


def _entries_matching(dialect: str, pattern: str, name: str) -> Any:
    """A SELECT of the ids of entries matching `pattern` (built by `_pattern`) through the full-text index."""
    if dialect == "sqlite":
        sql = f"SELECT rowid FROM searchentry_fts WHERE searchentry_fts MATCH :{name}"
    else:
        sql = f"SELECT id FROM searchentry WHERE tokens_tsv @@ CAST(:{name} AS tsquery)"
    return text(sql).bindparams(**{name: pattern}).columns(column("id", Integer))


def _pattern(dialect: str, tokens: Sequence[str]) -> str:
    """Any of `tokens`, each as a whole token or the start of one. Tokens are letters and digits only, so they
    need no escaping inside the quotes."""
    if dialect == "sqlite":
        return " OR ".join(f'"{t}"*' for t in tokens)
    return " | ".join(f"'{t}':*" for t in tokens)


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


def search_lessons(session: Session, query: str, *, filters: SearchFilters | None = None, offset: int = 0,
                   limit: int = 20, hits_per_lesson: int = 3) -> SearchResult:
    """Published lessons matching every word of `query` (Latin letters in any case; Traditional → Simplified is the
    caller's), best first, a page of them, and the transcript segments of that page's lessons that say every word
    (up to `hits_per_lesson` each, in time order)."""
    add_user_words(county_words(session))
    words = query_tokens(query)
    if not words:
        return SearchResult(total=0)
    dialect = session.get_bind().dialect.name
    stmt = (
        select_columns(col(SearchEntry.lesson_id), col(SearchEntry.part), col(SearchEntry.segment_id),
                       col(SearchEntry.tokens), col(Lesson.created_at))
        .join(Lesson, col(Lesson.id) == col(SearchEntry.lesson_id))
        .where(col(Lesson.review_state) == ReviewState.PUBLISHED,
               col(SearchEntry.id).in_(_entries_matching(dialect, _pattern(dialect, words), "any_word")))
    )
    for i, word in enumerate(words):
        other = aliased(SearchEntry)
        holding = select(other.lesson_id).where(
            col(other.id).in_(_entries_matching(dialect, _pattern(dialect, [word]), f"word_{i}")))
        stmt = stmt.where(col(SearchEntry.lesson_id).in_(holding))
    rows = session.execute(_filtered(stmt, filters or SearchFilters()).limit(MAX_MATCHED_ENTRIES)).all()

    best: dict[str, dict[str, float]] = defaultdict(dict)  # lesson -> query word -> best weight
    created: dict[str, datetime] = {}
    segment_entries: dict[str, list[int]] = defaultdict(list)
    for lesson_id, part, segment_id, tokens, created_at in rows:
        entry_tokens = tokens.split()
        matched = [token_match(word, entry_tokens) for word in words]
        for word, strength in zip(words, matched, strict=True):
            if strength:
                weight = PART_WEIGHTS.get(part, 1.0) * strength
                best[lesson_id][word] = max(best[lesson_id].get(word, 0.0), weight)
        created[lesson_id] = created_at
        if part == "transcript" and segment_id is not None and all(matched):
            segment_entries[lesson_id].append(segment_id)
    scores = {lesson_id: sum(per_word.values()) for lesson_id, per_word in best.items() if len(per_word) == len(words)}
    ranked = sorted(scores, key=lambda i: (-scores[i], -created[i].timestamp(), i))
    page = ranked[offset:offset + limit]
    lessons = {lesson.id: lesson for lesson in session.exec(select(Lesson).where(col(Lesson.id).in_(page))).all()}
    return SearchResult(
        total=len(ranked),
        lessons=[LessonMatch(lessons[i], scores[i]) for i in page if i in lessons],
        hits=_hits(session, page, segment_entries, words, hits_per_lesson),
    )


def _hits(session: Session, page: Sequence[str], segment_entries: dict[str, list[int]], words: Sequence[str],
          per_lesson: int) -> list[SegmentHit]:
    ids = [s for lesson_id in page for s in segment_entries.get(lesson_id, [])]
    if not ids or per_lesson <= 0:
        return []
    segments = session.exec(select(TranscriptSegment).where(col(TranscriptSegment.id).in_(ids))).all()
    by_id = {s.id: s for s in segments}
    hits: list[SegmentHit] = []
    for lesson_id in page:
        found = sorted((by_id[s] for s in segment_entries.get(lesson_id, []) if s in by_id),
                       key=lambda s: (s.start_s, s.position))[:per_lesson]
        hits += [SegmentHit(lesson_id=lesson_id, start_s=s.start_s, end_s=s.end_s, text=s.text,
                            snippet=marked_snippet(s.text, words)) for s in found]
    return hits


def lesson_ids(session: Session) -> list[str]:
    """Every lesson's id, for `weike search reindex`."""
    return list(session.exec(select(Lesson.id).order_by(col(Lesson.created_at))).all())
