"""How the search index ranks: a query as the index takes it (`IndexQuery`: words, whole or as prefixes, and flags),
and a page of the documents that match it, best first (`ranked_documents`). catalog/search.py indexes and answers.

For the public (published lessons only: a flag too), three tiers on both databases: lessons with a word in a head
part (title, speaker, series, tags, places, description), scored; then lessons whose transcript says every word
whole; then partial matches; the last two newest indexed first (a document is written anew when a lesson is
published or edited), and only the page's slice of them is read. On SQLite FTS5 alone counts and ranks, the head
tier by bm25 over the head parts (the title weighing most; a whole word matches both `"w"` and `"w"*`, so it counts
twice). On PostgreSQL three lookups of document ids in the GIN indexes make the tiers, and the head tier is
scored per word by the best head part that holds it (title 8, speaker or series or tags 4, places or description
2, doubled for a whole word), since ts_rank would read every matching transcript. For someone who may see more
(catalog/visibility.py) the index is joined to the lessons and every match is scored: bm25 on SQLite, on
PostgreSQL that per-word score with the transcript counting 1 (2 for a whole word).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    Integer,
    any_,
    bindparam,
    case,
    column,
    func,
    literal,
    literal_column,
    table,
    text,
    true,
)
from sqlalchemy import select as select_columns
from sqlmodel import Session, col

from catalog.models import Lesson, SearchDocument
from catalog.segmentation import is_han

# Per query word, the score of the best part that holds it (doubled for a whole word): head parts in this order.
HEAD_WEIGHTS = (("title", 8), ("people", 4), ("tags", 4), ("places", 2), ("description", 2))
TRANSCRIPT_WEIGHT = 1


_FTS = table("searchdocument_fts", column("rowid", Integer))
# FTS5's bm25 weights, one per column of searchdocument_fts: title, people, tags, places, description, flags,
# transcript. Lower is better; the API shows it negated.
BM25 = "bm25(searchdocument_fts, 10.0, 5.0, 5.0, 2.0, 2.0, 0.0, 1.0)"
WORD_COLUMNS = "{title people tags places description transcript}"
HEAD_COLUMNS = "{title people tags places description}"


def prefixed(word: str, words: Sequence[str]) -> bool:
    """Whether `word` of the query `words` also matches as the start of a longer token. Not a lone Chinese
    character beside other words: jieba leaves one when it does not know the word (主题党日: 主题 / 党 / 日), the
    documents that say it were cut the same way, and as a prefix 党 or 日 would match nearly every lesson (党员, 日常)."""
    return not (len(word) == 1 and len(words) > 1 and is_han(word))


@dataclass(frozen=True)
class IndexQuery:
    """A search as the full-text index takes it: the words, and the flags a document must have (or not have)."""

    words: tuple[str, ...]
    flags: tuple[tuple[str, bool], ...] = ()

    def prefixed(self, word: str) -> bool:
        return prefixed(word, self.words)

    def fts5(self, *, whole_only: bool = False) -> str:
        """FTS5: each word whole or as a prefix (a whole word matches both, which bm25 counts twice), in any
        column but the flags. Tokens and flags are letters and digits only: nothing to escape in the quotes."""
        each = (f'("{w}" OR "{w}"*)' if self.prefixed(w) and not whole_only else f'"{w}"' for w in self.words)
        expr = f"{WORD_COLUMNS} : ({' AND '.join(each)})"
        for flag, wanted in self.flags:
            expr = f'({expr}) {"AND" if wanted else "NOT"} flags : "{flag.lstrip("_")}"'
        return expr

    def tsquery(self, *, whole_only: bool = False) -> str:
        parts = [self.ts_word(w, whole_only=whole_only) for w in self.words]
        parts += [f"'{flag}'" if wanted else f"!'{flag}'" for flag, wanted in self.flags]
        return " & ".join(parts)

    def ts_word(self, word: str, *, whole_only: bool = False) -> str:
        """One word in a tsquery: whole, or also as a prefix."""
        return f"'{word}':*" if self.prefixed(word) and not whole_only else f"'{word}'"

    def head(self, dialect: str) -> str:
        """Any of the words (as `fts5` or `tsquery` takes each) in a head part: the first tier. On PostgreSQL for
        `head_tsv`, which holds the head parts only."""
        if dialect == "sqlite":
            each = (f'"{w}"*' if self.prefixed(w) else f'"{w}"' for w in self.words)
            return f"{HEAD_COLUMNS} : ({' OR '.join(each)})"
        return " | ".join(self.ts_word(w) for w in self.words)

    def condition(self, dialect: str, name: str, *, whole_only: bool = False) -> Any:
        if dialect == "sqlite":
            return text(f"searchdocument_fts MATCH :{name}").bindparams(**{name: self.fts5(whole_only=whole_only)})
        return text(f"searchdocument.tokens_tsv @@ CAST(:{name} AS tsquery)").bindparams(
            **{name: self.tsquery(whole_only=whole_only)})


def documents(dialect: str) -> Any:
    """A SELECT of (document id, lesson id) from the full-text index, to add a `IndexQuery.condition` to."""
    if dialect == "sqlite":
        return (select_columns(col(SearchDocument.id), col(SearchDocument.lesson_id)).select_from(_FTS)
                .join(SearchDocument, col(SearchDocument.id) == _FTS.c.rowid))
    return select_columns(col(SearchDocument.id), col(SearchDocument.lesson_id))


def _head_score(dialect: str, query: IndexQuery, *, transcript: bool = True) -> Any:
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
                          .bindparams(**{f"head_{i}": query.ts_word(word)})))
        whole = (select_columns(col(SearchDocument.id)).correlate(None)
                 .where(IndexQuery((word,)).condition(dialect, f"whole_{i}", whole_only=True)))
        total = total + case(
            (col(SearchDocument.id).in_(in_head), case(*head, else_=TRANSCRIPT_WEIGHT)),  # a few documents
            (col(SearchDocument.id).in_(whole), 2 * TRANSCRIPT_WEIGHT),
            else_=TRANSCRIPT_WEIGHT)
    return total


def prefer_the_index(session: Session) -> str:
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


def _lesson_ids(session: Session, docs: list[int]) -> dict[int, str]:
    """The lesson of each of a page's documents."""
    if not docs:
        return {}
    rows = session.execute(select_columns(col(SearchDocument.id), col(SearchDocument.lesson_id))
                           .where(col(SearchDocument.id).in_(docs))).all()
    return {doc: lesson_id for doc, lesson_id in rows}


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
    lessons = _lesson_ids(session, [doc for doc, _ in page])
    return len(tier), [(lessons[doc], -score) for doc, score in page]


def _ranked_by_the_index(session: Session, query: IndexQuery, *, offset: int,
                         limit: int) -> tuple[int, list[tuple[str, float]]]:
    """The public's search on SQLite, answered by FTS5 alone in three tiers: lessons with a word in a head part
    (title, speaker, series, tags, places, description), ranked by bm25 over those parts; then those whose
    transcript says every word whole; then the partial matches; the last two newest indexed first (publication,
    or a later edit). Only the first tier is scored, and it is small: a word as common as 党员 in every transcript
    no longer makes bm25 score every lesson for one page."""
    everything, head = query.fts5(), query.head("sqlite")
    whole = IndexQuery(query.words).fts5(whole_only=True)  # every word whole, flags aside
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


def _ranked_by_tsvector(session: Session, query: IndexQuery, *, offset: int,
                        limit: int) -> tuple[int, list[tuple[str, float]]]:
    """The public's search on PostgreSQL, in the same three tiers as on SQLite (`_ranked_by_the_index`), from
    three lookups of document ids in the GIN indexes: the documents matching the query, those with a word in a
    head part, and (only when the page reaches past the head tier) those whose transcript says every word whole.
    Only the first tier is scored (`_head_score` over the head parts, a few hundred documents at most); the
    others are newest indexed first (a document is written anew when a lesson is published or edited). Scoring
    every match instead, as the reviewers' search does, costs 45 ms for a word in 6,000 of 10,000 transcripts;
    this costs a few."""

    def ids(column: str, tsquery: str) -> set[int]:
        # One array instead of a row per document: 10,000 ids in 3 ms instead of 6. `column`: one of two names.
        sql = f"SELECT array_agg(id) FROM searchdocument WHERE {column} @@ CAST(%s AS tsquery)"
        (found,) = _driver_cursor(session, sql, tsquery).fetchone()
        return set(found or ())

    matching = ids("tokens_tsv", query.tsquery())
    head = ids("head_tsv", query.head("postgresql")) & matching
    page: list[tuple[int, float]] = []
    if offset < len(head) and limit > 0:
        scored = session.execute(
            select_columns(col(SearchDocument.id), _head_score("postgresql", query, transcript=False).label("score"))
            .where(col(SearchDocument.id) == any_(bindparam("head", sorted(head), type_=ARRAY(Integer))))
            .order_by(text("score DESC"), col(SearchDocument.id).desc()).offset(offset).limit(limit)).all()
        page = [(doc, 2.0 + float(score)) for doc, score in scored]
    start, end = max(0, offset - len(head)), max(0, offset + limit - len(head))  # the slice of the other tiers
    if end > start:  # the page reaches past the head tier (a word in 650 titles of 10,000 fills many pages)
        whole = ids("tokens_tsv", query.tsquery(whole_only=True)) - head  # the flags too: all of them match
        said_whole = heapq.nlargest(end, whole)
        page += [(doc, 1.0) for doc in said_whole[start:end]]
        if end > len(whole):
            partly = heapq.nlargest(end - len(whole), matching - head - whole)
            page += [(doc, 0.5) for doc in partly[max(0, start - len(whole)):]]
    lessons = _lesson_ids(session, [doc for doc, _ in page])
    return len(matching), [(lessons[doc], score) for doc, score in page]


def ranked_documents(session: Session, query: IndexQuery, *, public: bool, visible: Any, offset: int,
                     limit: int) -> tuple[int, list[tuple[str, float]]]:
    """How many documents match, and a page of (lesson id, score), best first."""
    dialect = prefer_the_index(session)
    if public:
        by_tiers = _ranked_by_the_index if dialect == "sqlite" else _ranked_by_tsvector
        return by_tiers(session, query, offset=offset, limit=limit)
    base = (documents(dialect).join(Lesson, col(Lesson.id) == col(SearchDocument.lesson_id))
            .where(query.condition(dialect, "q"), visible if visible is not None else true()))
    total = session.execute(select_columns(func.count()).select_from(base.subquery())).scalar_one()
    if not total:
        return 0, []
    score: Any = -literal_column(BM25) if dialect == "sqlite" else _head_score(dialect, query)
    order: list[Any] = [literal_column(BM25)] if dialect == "sqlite" else [text("score DESC")]
    newest = func.coalesce(col(Lesson.published_at), col(Lesson.created_at))
    rows = session.execute(base.with_only_columns(col(SearchDocument.lesson_id), score.label("score"))
                           .order_by(*order, newest.desc(), col(Lesson.id)).offset(offset).limit(limit)).all()
    return int(total), [(lesson_id, float(s)) for lesson_id, s in rows]
