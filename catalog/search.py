"""The search engine: one search over a lesson's title, speaker, series, tags, places, description and transcript,
through a full-text index that also ranks, filters and pages.

Indexing (`reindex_lesson`, in the transaction of whatever changed the lesson): every lesson, in any state, has
one `SearchDocument` holding each part as the segmented tokens of catalog/segmentation.py (words, full pinyin,
initials) and its flags (published, featured, branch, township, category, language, year, subtitles, series,
speaker, tags), and one `SearchEntry` per segment of its current captions (for the sentences that say the words).

Searching (`search_lessons`): the query is cut into words the same way; the index finds the documents holding
every word as a whole token or as the start of one (`党` finds 党课, partially) and every flag the filters ask
for. For the public (published lessons only: a flag too) on SQLite, FTS5 alone counts and ranks, in three tiers:
lessons with a word in a head part, by bm25 (the title weighing most; a whole word matches both `"w"` and `"w"*`,
so it counts twice); then lessons whose transcript says every word whole; then partial matches; the last two
newest indexed first, read straight off the index. Only the page's rows are read. For someone who may see more (catalog/visibility.py), the index is joined to the
lessons. PostgreSQL's GIN tsvector finds; its score is per word the best part that holds it (title 8, speaker or
series or tags 4, places or description 2, transcript 1, doubled for a whole word), since ts_rank would read every
matching transcript. The hits are looked for only in the page's lessons.
"""

from __future__ import annotations

import heapq
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ARRAY,
    Integer,
    any_,
    bindparam,
    case,
    column,
    delete,
    false,
    func,
    literal,
    literal_column,
    table,
    text,
    true,
)
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
from catalog.segmentation import add_user_words, index_tokens, is_han, marked_snippet, query_tokens
from catalog.visibility import sees_only_published, visible_clause

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


_FTS = table("searchdocument_fts", column("rowid", Integer))
# FTS5's bm25 weights, one per column of searchdocument_fts: title, people, tags, places, description, flags,
# transcript. Lower is better; the API shows it negated.
BM25 = "bm25(searchdocument_fts, 10.0, 5.0, 5.0, 2.0, 2.0, 0.0, 1.0)"
WORD_COLUMNS = "{title people tags places description transcript}"
HEAD_COLUMNS = "{title people tags places description}"


def _prefixed(word: str, words: Sequence[str]) -> bool:
    """Whether `word` of the query `words` also matches as the start of a longer token. Not a lone Chinese
    character beside other words: jieba leaves one when it does not know the word (主题党日: 主题 / 党 / 日), the
    documents that say it were cut the same way, and as a prefix 党 or 日 would match nearly every lesson (党员, 日常)."""
    return not (len(word) == 1 and len(words) > 1 and is_han(word))


@dataclass(frozen=True)
class _Query:
    """A search as the full-text index takes it: the words, and the flags a document must have (or not have)."""

    words: tuple[str, ...]
    flags: tuple[tuple[str, bool], ...] = ()

    def prefixed(self, word: str) -> bool:
        return _prefixed(word, self.words)

    def fts5(self, *, whole_only: bool = False) -> str:
        """FTS5: each word whole or as a prefix (a whole word matches both, which bm25 counts twice), in any
        column but the flags. Tokens and flags are letters and digits only: nothing to escape in the quotes."""
        each = (f'("{w}" OR "{w}"*)' if self.prefixed(w) and not whole_only else f'"{w}"' for w in self.words)
        expr = f"{WORD_COLUMNS} : ({' AND '.join(each)})"
        for flag, wanted in self.flags:
            expr = f'({expr}) {"AND" if wanted else "NOT"} flags : "{flag.lstrip("_")}"'
        return expr

    def tsquery(self, *, whole_only: bool = False) -> str:
        parts = [f"'{w}':*" if self.prefixed(w) and not whole_only else f"'{w}'" for w in self.words]
        parts += [f"'{flag}'" if wanted else f"!'{flag}'" for flag, wanted in self.flags]
        return " & ".join(parts)

    def condition(self, dialect: str, name: str, *, whole_only: bool = False) -> Any:
        if dialect == "sqlite":
            return text(f"searchdocument_fts MATCH :{name}").bindparams(**{name: self.fts5(whole_only=whole_only)})
        return text(f"searchdocument.tokens_tsv @@ CAST(:{name} AS tsquery)").bindparams(
            **{name: self.tsquery(whole_only=whole_only)})


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


def _documents(dialect: str) -> Any:
    """A SELECT of (document id, lesson id) from the full-text index, to add a `_Query.condition` to."""
    if dialect == "sqlite":
        return (select_columns(col(SearchDocument.id), col(SearchDocument.lesson_id)).select_from(_FTS)
                .join(SearchDocument, col(SearchDocument.id) == _FTS.c.rowid))
    return select_columns(col(SearchDocument.id), col(SearchDocument.lesson_id))


def _head_score(dialect: str, query: _Query, *, transcript: bool = True) -> Any:
    """PostgreSQL's score (ts_rank would read every matching transcript): per word, the best part that holds it
    (title 8, speaker/series/tags 4, places/description 2, transcript 1), doubled for a whole word. The head parts
    are a few dozen tokens each, so LIKE looks at them; whether the transcript's match is whole asks the index
    (without `transcript`, a word the head parts lack counts 1 either way: for documents known to be few)."""
    total: Any = literal(0)
    for i, word in enumerate(query.words):
        head = []
        for part, weight in HEAD_WEIGHTS:
            padded = literal(" ") + getattr(SearchDocument, part) + literal(" ")
            head.append((padded.like(f"% {word} %"), 2 * weight))
        if query.prefixed(word):
            for part, weight in HEAD_WEIGHTS:
                head.append(((literal(" ") + getattr(SearchDocument, part)).like(f"% {word}%"), weight))
        if not transcript:
            total = total + case(*head, else_=TRANSCRIPT_WEIGHT)
            continue
        in_head = (select_columns(col(SearchDocument.id)).correlate(None)
                   .where(text(f"searchdocument.head_tsv @@ CAST(:head_{i} AS tsquery)")
                          .bindparams(**{f"head_{i}": f"'{word}':*" if query.prefixed(word) else f"'{word}'"})))
        whole = (select_columns(col(SearchDocument.id)).correlate(None)
                 .where(_Query((word,)).condition(dialect, f"whole_{i}", whole_only=True)))
        total = total + case(
            (col(SearchDocument.id).in_(in_head), case(*head, else_=TRANSCRIPT_WEIGHT)),  # a few documents
            (col(SearchDocument.id).in_(whole), 2 * TRANSCRIPT_WEIGHT),
            else_=TRANSCRIPT_WEIGHT)
    return total


def _prefer_the_index(session: Session) -> str:
    """The dialect; on PostgreSQL, for the rest of the transaction, no sequential scans: when most documents
    match, the planner picks one, which unpacks every document's tsvector (megabytes of transcript tokens, a cost
    it does not price) where the GIN bitmap scan reads none (2,000 lessons: 65 ms against 3 ms)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SET LOCAL enable_seqscan = off"))
    return dialect


def _fts_page(session: Session, expr: str, *, ranked: bool, offset: int, limit: int) -> list[tuple[str, float]]:
    """Lesson ids (with -bm25, or 0) of one slice of the documents matching an FTS5 expression: by bm25, or
    newest indexed first, which FTS5 reads straight off the index and stops at the slice's end."""
    if limit <= 0:
        return []
    order = [text("rank"), _FTS.c.rowid.desc()] if ranked else [_FTS.c.rowid.desc()]
    score = literal_column(BM25) if ranked else literal(0.0)
    best = (select_columns(_FTS.c.rowid.label("id"), score.label("rank")).select_from(_FTS)
            .where(text("searchdocument_fts MATCH :expr").bindparams(expr=expr)).order_by(*order)
            .offset(offset).limit(limit).subquery())
    rows = session.execute(select_columns(col(SearchDocument.lesson_id), best.c.rank)
                           .join(best, best.c.id == col(SearchDocument.id))
                           .order_by(best.c.rank, best.c.id.desc())).all()
    return [(lesson_id, -float(rank)) for lesson_id, rank in rows]


def _driver_cursor(session: Session, sql: str, *params: Any) -> Any:
    """`sql` run with the driver's own cursor, in the session's transaction: for the index's long lists of rowids,
    whose rows SQLAlchemy would make three times slower to read."""
    return session.connection().connection.driver_connection.execute(sql, params)  # type: ignore[union-attr]


def _fts_ids(session: Session, expr: str) -> set[int]:
    """The rowids of the documents matching an FTS5 expression (10,000 of them in 2 ms)."""
    cursor = _driver_cursor(session, "SELECT rowid FROM searchdocument_fts WHERE searchdocument_fts MATCH ?", expr)
    return {rowid for (rowid,) in cursor}


def _head_tier(session: Session, head: str, matching: set[int], *, offset: int,
               limit: int) -> tuple[int, list[tuple[str, float]]]:
    """The first tier: documents in `matching` with a word in a head part, ranked by bm25 over the head parts
    alone. Matching the head expression by itself keeps bm25 from reading the transcript's positions of every
    document it scores (650 documents of 10,000: 1–2 ms instead of 5–11); `matching` (the whole query, flags
    included) then keeps the documents that qualify. Returns the tier's size and the slice [offset, offset+limit)."""
    cursor = _driver_cursor(session, f"SELECT rowid, {BM25} FROM searchdocument_fts WHERE searchdocument_fts MATCH ? "
                                     f"ORDER BY 2, rowid DESC", head)  # fmt: skip
    tier = [(doc, float(score)) for doc, score in cursor if doc in matching]
    page = tier[offset:offset + limit] if limit > 0 else []
    if not page:
        return len(tier), []
    lessons = {doc: lesson_id for doc, lesson_id in session.execute(
        select_columns(col(SearchDocument.id), col(SearchDocument.lesson_id))
        .where(col(SearchDocument.id).in_([doc for doc, _ in page]))).all()}
    return len(tier), [(lessons[doc], -score) for doc, score in page]


def _ranked_by_the_index(session: Session, query: _Query, *, offset: int,
                         limit: int) -> tuple[int, list[tuple[str, float]]]:
    """The public's search on SQLite, answered by FTS5 alone in three tiers: lessons with a word in a head part
    (title, speaker, series, tags, places, description), ranked by bm25 over those parts; then those whose
    transcript says every word whole; then the partial matches; the last two newest indexed first (publication,
    or a later edit). Only the first tier is scored, and it is small: a word as common as 党员 in every transcript
    no longer makes bm25 score every lesson for one page."""
    everything = query.fts5()
    quoted = ['"' + w + '"' for w in query.words]
    head = f"{HEAD_COLUMNS} : ({' OR '.join(q + '*' if query.prefixed(w) else q for w, q in zip(query.words, quoted, strict=True))})"
    whole = f"{WORD_COLUMNS} : ({' AND '.join(quoted)})"
    tiers = [(f"(({everything}) AND ({whole})) NOT ({head})", False),
             (f"(({everything}) NOT ({whole})) NOT ({head})", False)]

    def count(expr: str) -> int:
        return int(session.execute(select_columns(func.count()).select_from(_FTS).where(
            text("searchdocument_fts MATCH :expr").bindparams(expr=expr))).scalar_one())

    matching = _fts_ids(session, everything)
    total = len(matching)
    start, first = _head_tier(session, head, matching, offset=offset, limit=limit)
    page = [(lesson_id, 2.0 + score) for lesson_id, score in first]
    for i, ((expr, ranked), bonus) in enumerate(zip(tiers, (1.0, 0.5), strict=True)):
        end = offset + limit - start  # the tier's rows the page reaches
        if end <= 0 or start >= total:
            break
        if offset <= start:  # the page takes the tier from its first row: reading tells its size
            rows = _fts_page(session, expr, ranked=ranked, offset=0, limit=end)
            page += [(lesson_id, bonus + score) for lesson_id, score in rows]
            size = len(rows)
        else:  # the page starts within or after this tier: its size says which
            size = total - start if i == len(tiers) - 1 else count(expr)
            if offset < start + size:
                page += [(lesson_id, bonus + score) for lesson_id, score in
                         _fts_page(session, expr, ranked=ranked, offset=offset - start, limit=limit)]
        start += size
    return total, page


def _ranked_by_tsvector(session: Session, query: _Query, *, offset: int,
                        limit: int) -> tuple[int, list[tuple[str, float]]]:
    """The public's search on PostgreSQL, in the same three tiers as on SQLite (`_ranked_by_the_index`), from
    three lookups of document ids in the GIN indexes: the documents matching the query, those with a word in a
    head part, those whose transcript says every word whole. Only the first tier is scored (`_head_score` over
    the head parts, a few hundred documents at most); the others are newest indexed first (a document is
    written anew when a lesson is published or edited). Scoring every match instead, as the reviewers' search
    does, costs 45 ms for a word in 6,000 of 10,000 transcripts; this costs a few."""

    def ids(column: str, tsquery: str) -> set[int]:
        # One array instead of a row per document: 10,000 ids in 3 ms instead of 6. `column`: one of two names.
        sql = f"SELECT array_agg(id) FROM searchdocument WHERE {column} @@ CAST(%s AS tsquery)"
        (found,) = _driver_cursor(session, sql, tsquery).fetchone()
        return set(found or ())

    in_head = " | ".join(f"'{w}':*" if query.prefixed(w) else f"'{w}'" for w in query.words)
    matching = ids("tokens_tsv", query.tsquery())
    head = ids("head_tsv", in_head) & matching
    whole = ids("tokens_tsv", query.tsquery(whole_only=True)) - head  # the flags too: all of them match
    page: list[tuple[int, float]] = []
    if offset < len(head) and limit > 0:
        scored = session.execute(
            select_columns(col(SearchDocument.id), _head_score("postgresql", query, transcript=False).label("score"))
            .where(col(SearchDocument.id) == any_(bindparam("head", sorted(head), type_=ARRAY(Integer))))
            .order_by(text("score DESC"), col(SearchDocument.id).desc()).offset(offset).limit(limit)).all()
        page = [(doc, 2.0 + float(score)) for doc, score in scored]
    start, end = max(0, offset - len(head)), max(0, offset + limit - len(head))  # the slice of the other tiers
    if end > start:
        said_whole = heapq.nlargest(end, whole)
        page += [(doc, 1.0) for doc in said_whole[start:end]]
        if end > len(whole):
            partly = heapq.nlargest(end - len(whole), matching - head - whole)
            page += [(doc, 0.5) for doc in partly[max(0, start - len(whole)):]]
    lessons = {doc: lesson_id for doc, lesson_id in session.execute(
        select_columns(col(SearchDocument.id), col(SearchDocument.lesson_id))
        .where(col(SearchDocument.id).in_([doc for doc, _ in page]))).all()} if page else {}
    return len(matching), [(lessons[doc], score) for doc, score in page]


def _ranked(session: Session, query: _Query, *, public: bool, visible: Any, offset: int,
            limit: int) -> tuple[int, list[tuple[str, float]]]:
    """How many documents match, and a page of (lesson id, score), best first."""
    dialect = _prefer_the_index(session)
    match = query.condition(dialect, "q")
    if public:
        by_tiers = _ranked_by_the_index if dialect == "sqlite" else _ranked_by_tsvector
        return by_tiers(session, query, offset=offset, limit=limit)
    base = (_documents(dialect).join(Lesson, col(Lesson.id) == col(SearchDocument.lesson_id))
            .where(match, visible if visible is not None else true()))
    total = session.execute(select_columns(func.count()).select_from(base.subquery())).scalar_one()
    if not total:
        return 0, []
    score: Any = -literal_column(BM25) if dialect == "sqlite" else _head_score(dialect, query)
    order: list[Any] = [literal_column(BM25)] if dialect == "sqlite" else [text("score DESC")]
    newest = func.coalesce(col(Lesson.published_at), col(Lesson.created_at))
    rows = session.execute(base.with_only_columns(col(SearchDocument.lesson_id), score.label("score"))
                           .order_by(*order, newest.desc(), col(Lesson.id)).offset(offset).limit(limit)).all()
    return int(total), [(lesson_id, float(s)) for lesson_id, s in rows]


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
    total, ranked = _ranked(session, _Query(words, flags), public=public, visible=visible, offset=offset,
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
    `_Query.prefixed` says so; tokens are lower-case letters and digits, space-separated): a substring search,
    cheaper than LIKE, on both databases."""
    padded = literal(" ") + col(SearchEntry.tokens) + literal(" ")
    return [position_of(padded, literal(f" {w}" if _prefixed(w, words) else f" {w} ")) > 0 for w in words]


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
    dialect = _prefer_the_index(session)
    lessons = (_documents(dialect).with_only_columns(col(SearchDocument.lesson_id))
               .join(Lesson, col(Lesson.id) == col(SearchDocument.lesson_id))
               .where(_Query(words).condition(dialect, "words"),
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
    dialect = _prefer_the_index(session)
    ids = (_documents(dialect).with_only_columns(col(SearchDocument.lesson_id))
           .where(_Query(words).condition(dialect, "list_words")).correlate(None))
    return col(Lesson.id).in_(ids)


def lesson_ids(session: Session) -> list[str]:
    """Every lesson's id, for `weike search reindex`."""
    return list(session.exec(select(Lesson.id).order_by(col(Lesson.created_at))).all())


def unindexed_lesson_ids(session: Session) -> list[str]:
    """Lessons without a search document (say, published before migration 0006), for `weike serve` to index."""
    indexed = select(SearchDocument.lesson_id)
    return list(session.exec(select(Lesson.id).where(col(Lesson.id).not_in(indexed))
                             .order_by(col(Lesson.created_at))).all())
