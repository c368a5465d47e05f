"""Copy detection in the database: each lesson's fingerprint (its packed signals), the index every worker shares,
and the matches, kept both ways.

Indexing a lesson (:func:`index_lesson`, in the `similarity` step's transaction) replaces the keys of the signals
that changed, looks the lesson's keys up, one IN query per signal, counted per fingerprint (for the transcript, the
count of agreeing MinHash values estimates the Jaccard similarity), compares the best candidates exactly
(catalog/similarity.py) on the signals they are candidates by, and on all three those worth reporting, and rewrites
every match the lesson takes part in, its own rows and the other lessons' rows about it, so that the result is the
same however often it runs. Looking up and rewriting take turns across workers (SQLite has one writer; PostgreSQL
takes a transaction-level advisory lock), so two lessons indexed at the same moment still find each other.

The cost of adding a lesson is bounded by the candidates, not the library: bench/similar.py measures it at 10,000
lessons against comparing with every one.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import ColumnElement, and_, delete, func, or_, text
from sqlmodel import Session, col, select

from catalog.models import Lesson, LessonFingerprint, LessonMatch, SimilarityKey, utcnow
from catalog.similar_spans import kind_range
from catalog.similarity import (
    FLAG_THRESHOLD,
    KEY_FOOTAGE,
    KEY_SOUND,
    KEY_TRANSCRIPT,
    REPORT_THRESHOLD,
    SIGNALS,
    Comparison,
    FootagePrint,
    LessonPrints,
    SignalMatch,
    SoundPrint,
    Span,
    TranscriptPrint,
    compare,
)

_KINDS = {"transcript": KEY_TRANSCRIPT, "footage": KEY_FOOTAGE, "sound": KEY_SOUND}
# Per signal: how many keys a fingerprint must share to be a candidate, and how many candidates are compared.
MIN_SHARED = {KEY_TRANSCRIPT: 1, KEY_FOOTAGE: 2, KEY_SOUND: 2}
CANDIDATES = {KEY_TRANSCRIPT: 32, KEY_FOOTAGE: 24, KEY_SOUND: 24}
_LOCK_KEY = 0x5745494B45  # PostgreSQL advisory lock: "WEIKE"
# Bump when a transcript's keys change for the same transcript (LSH bands, shingles): stored rows are re-keyed.
# 1: 64 bands of 2 values; 2: 128 bands of 1 value.
TRANSCRIPT_KEYS_FORMAT = 2


# ------------------------------------------------------------------------------------------- packed signals


def pack_transcript(p: TranscriptPrint) -> bytes:
    return struct.pack("<4sII", b"WKT1", len(p.token_times_s), len(p.distinct)) + p.distinct.astype("<u4").tobytes() \
        + p.first_at.astype("<u4").tobytes() + p.token_times_s.astype("<f4").tobytes()


def unpack_transcript(data: bytes) -> TranscriptPrint:
    _, tokens, distinct = struct.unpack_from("<4sII", data)
    offset = struct.calcsize("<4sII")
    return TranscriptPrint(
        distinct=np.frombuffer(data, "<u4", distinct, offset).astype(np.uint32),
        first_at=np.frombuffer(data, "<u4", distinct, offset + 4 * distinct).astype(np.uint32),
        token_times_s=np.frombuffer(data, "<f4", tokens, offset + 8 * distinct).astype(np.float32))


def pack_footage(p: FootagePrint) -> bytes:
    return struct.pack("<4sIff", b"WKF1", len(p.hashes), p.duration_s, p.interval_s) + \
        p.times_s.astype("<f4").tobytes() + p.hashes.astype("<u8").tobytes()


def unpack_footage(data: bytes) -> FootagePrint:
    _, count, duration_s, interval_s = struct.unpack_from("<4sIff", data)
    offset = struct.calcsize("<4sIff")
    return FootagePrint(times_s=np.frombuffer(data, "<f4", count, offset).astype(np.float32),
                        hashes=np.frombuffer(data, "<u8", count, offset + 4 * count).astype(np.uint64),
                        duration_s=float(duration_s), interval_s=float(interval_s))


def pack_sound(p: SoundPrint) -> bytes:
    return struct.pack("<4sI", b"WKS1", len(p.items)) + p.items.astype("<u4").tobytes()


def unpack_sound(data: bytes) -> SoundPrint:
    _, count = struct.unpack_from("<4sI", data)
    return SoundPrint(items=np.frombuffer(data, "<u4", count, struct.calcsize("<4sI")).astype(np.uint32))


def _packed(prints: LessonPrints, signal: str) -> bytes | None:
    """One signal packed for its column; None where the lesson lacks it."""
    if signal == "transcript":
        return pack_transcript(prints.transcript) if prints.transcript else None
    if signal == "footage":
        return pack_footage(prints.footage) if prints.footage else None
    return pack_sound(prints.sound) if prints.sound else None


def prints_of(row: LessonFingerprint) -> LessonPrints:
    return LessonPrints(transcript=unpack_transcript(row.transcript) if row.transcript else None,
                        footage=unpack_footage(row.footage) if row.footage else None,
                        sound=unpack_sound(row.sound) if row.sound else None)


# ------------------------------------------------------------------------------------------------- indexing


def get_fingerprint(session: Session, lesson_id: str) -> LessonFingerprint | None:
    return session.exec(select(LessonFingerprint).where(LessonFingerprint.lesson_id == lesson_id)).first()


@dataclass(frozen=True)
class Found:
    other_id: str
    comparison: Comparison


def index_lesson(session: Session, lesson_id: str, *, revision: int, caption_version: int | None,
                 prints: LessonPrints, changed: Collection[str] = SIGNALS) -> list[Found]:
    """Store the lesson's signals (those in `changed` are replaced, with their index keys; the others are kept
    as stored), then find and record its matches. Returns the matches at or above the reporting threshold."""
    _take_turns(session)
    fingerprint_id, current = _store_prints(session, lesson_id, revision=revision, caption_version=caption_version,
                                            prints=prints, changed=changed)
    found = [f for f in _compare_candidates(session, current, exclude_id=fingerprint_id)
             if f.comparison.score >= REPORT_THRESHOLD]
    rewrite_matches(session, lesson_id, found)
    return found


def _store_prints(session: Session, lesson_id: str, *, revision: int, caption_version: int | None,
                  prints: LessonPrints, changed: Collection[str]) -> tuple[int, LessonPrints]:
    """Replace the `changed` signals (all of them for a lesson not stored yet) and their keys; returns the
    fingerprint's id and the lesson's signals as now stored."""
    row = get_fingerprint(session, lesson_id)
    stored = row is not None
    if row is None:
        row = LessonFingerprint(lesson_id=lesson_id, revision=revision)
        changed = SIGNALS
    for signal in changed:
        setattr(row, signal, _packed(prints, signal))
    if "transcript" in changed:
        row.transcript_keys_format = TRANSCRIPT_KEYS_FORMAT
    row.revision, row.caption_version, row.updated_at = revision, caption_version, utcnow()
    session.add(row)
    session.flush()
    assert row.id is not None
    if stored:
        for signal in changed:
            first, last = kind_range(_KINDS[signal])
            session.execute(delete(SimilarityKey).where(col(SimilarityKey.fingerprint_id) == row.id,
                                                        col(SimilarityKey.key) >= first, col(SimilarityKey.key) < last))
    keys = [k for signal in changed for k in prints.keys_of(signal)]
    if keys:
        session.execute(SimilarityKey.__table__.insert(),  # type: ignore[attr-defined]
                        [{"key": k, "fingerprint_id": row.id} for k in keys])
    kept = prints_of(row)  # the signals not replaced, as stored
    return row.id, LessonPrints(*(getattr(prints if signal in changed else kept, signal) for signal in SIGNALS))


def _take_turns(session: Session) -> None:
    """Make concurrent indexers take turns until commit. SQLite already does: the step's transaction has written
    (its lease) before it gets here, and SQLite has one writer at a time."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def _candidates(session: Session, prints: LessonPrints, *, exclude_id: int | None = None) -> dict[int, set[str]]:
    """Fingerprints sharing keys with `prints`, for each the signals it is a candidate by: per signal, the best
    CANDIDATES[kind] by keys shared (for the transcript, by the MinHash estimate of the Jaccard similarity)."""
    found: dict[int, set[str]] = {}
    for signal in SIGNALS:
        keys = prints.keys_of(signal)
        if not keys:
            continue
        kind = _KINDS[signal]
        shared = func.count().label("shared")
        rows = session.exec(
            select(SimilarityKey.fingerprint_id, shared).where(col(SimilarityKey.key).in_(keys))
            .group_by(col(SimilarityKey.fingerprint_id)).having(shared >= MIN_SHARED[kind])
            .order_by(shared.desc(), col(SimilarityKey.fingerprint_id)).limit(CANDIDATES[kind] + 1)
        ).all()
        ids = [int(fingerprint_id) for fingerprint_id, _ in rows if fingerprint_id != exclude_id]
        for fingerprint_id in ids[:CANDIDATES[kind]]:
            found.setdefault(fingerprint_id, set()).add(signal)
    return found


def _compare_candidates(session: Session, prints: LessonPrints, *, exclude_id: int | None = None) -> list[Found]:
    """Each candidate compared on the signals it is a candidate by; one that scores at or above the reporting
    threshold is compared on the others too (its other scores are shown with it)."""
    by = _candidates(session, prints, exclude_id=exclude_id)
    if not by:
        return []
    found = []
    for row in session.exec(select(LessonFingerprint).where(col(LessonFingerprint.id).in_(list(by)))).all():
        other, signals = prints_of(row), by[row.id or 0]
        comparison = compare(prints, other, signals)
        if comparison.score >= REPORT_THRESHOLD and len(signals) < len(SIGNALS):
            rest = compare(prints, other, [s for s in SIGNALS if s not in signals])
            comparison = Comparison(*(getattr(comparison, s) or getattr(rest, s) for s in SIGNALS))
        found.append(Found(row.lesson_id, comparison))
    return found


def _spans_json(spans: Sequence[Span]) -> str:
    return json.dumps([{"start_s": s.start_s, "end_s": s.end_s, "other_start_s": s.other_start_s,
                        "other_end_s": s.other_end_s} for s in spans])


def _score(match: SignalMatch | None) -> float | None:
    return match.score if match is not None else None


def rewrite_matches(session: Session, lesson_id: str, found: Sequence[Found]) -> None:
    """Replace every match of `lesson_id`, both ways."""
    session.execute(delete(LessonMatch).where(or_(col(LessonMatch.lesson_id) == lesson_id,
                                                  col(LessonMatch.other_id) == lesson_id)))
    now = utcnow()
    for f in found:
        for this, other, c in ((lesson_id, f.other_id, f.comparison), (f.other_id, lesson_id, f.comparison.swapped())):
            session.add(LessonMatch(lesson_id=this, other_id=other, score=c.score, transcript=_score(c.transcript),
                                    footage=_score(c.footage), sound=_score(c.sound),
                                    spans_json=_spans_json(c.spans), updated_at=now))
    session.flush()


# ------------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class SimilarLesson:
    match: LessonMatch
    other: Lesson

    @property
    def spans(self) -> list[dict[str, float]]:
        data = json.loads(self.match.spans_json or "[]")
        return data if isinstance(data, list) else []


def similar_lessons(session: Session, lesson_id: str, *, min_score: float = REPORT_THRESHOLD) -> list[SimilarLesson]:
    """The lessons like this one, best first."""
    rows = session.exec(
        select(LessonMatch, Lesson).join(Lesson, col(Lesson.id) == col(LessonMatch.other_id))
        .where(col(LessonMatch.lesson_id) == lesson_id, col(LessonMatch.score) >= min_score)
        .order_by(col(LessonMatch.score).desc(), col(Lesson.created_at), col(Lesson.id))
    ).all()
    return [SimilarLesson(match, other) for match, other in rows]


def _earlier(created_at: datetime, lesson_id: str) -> ColumnElement[bool]:
    return or_(col(Lesson.created_at) < created_at,
               and_(col(Lesson.created_at) == created_at, col(Lesson.id) < lesson_id))


def possible_copy(session: Session, lesson: Lesson, *, among: ColumnElement[bool] | None = None) -> bool:
    """Whether the lesson is like an earlier lesson above the flag threshold: the later of two alike lessons is the
    possible copy (the earlier one lists it among its similar lessons, unflagged). `among` (catalog/visibility.py's
    `visible_clause`) counts only the earlier lessons a viewer may see: a flag must not tell an organiser that
    another township has an unpublished lesson like theirs."""
    query = (select(LessonMatch.other_id).join(Lesson, col(Lesson.id) == col(LessonMatch.other_id))
             .where(col(LessonMatch.lesson_id) == lesson.id, col(LessonMatch.score) >= FLAG_THRESHOLD,
                    _earlier(lesson.created_at, lesson.id)))
    if among is not None:
        query = query.where(among)
    hit = session.exec(query.limit(1)).first()
    return hit is not None
