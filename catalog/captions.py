"""Caption versions and their transcript segments.

Version 1 of a lesson comes from speech recognition (source `auto`); every correction by a reviewer adds the next
version (source `edited`) with its author, time and note; nothing is overwritten. The *current* version is the
newest one. `Lesson.caption_version` says which version the published subtitle files, muxed renditions and
open-caption edition were made from (the `captions` step sets it when they are done), so current and published
differ while a correction is being processed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from catalog.models import CaptionSource, CaptionVersion, Lesson, TranscriptSegment


@dataclass(frozen=True)
class SegmentFacts:
    """One timed piece of text, as recognised (with Whisper's scores) or as a reviewer typed it (without)."""

    start_s: float
    end_s: float
    text: str
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    low_confidence: bool = False

    @property
    def confidence(self) -> float | None:
        """The mean token probability, exp(avg_logprob), in 0..1 (None for typed text)."""
        if self.avg_logprob is None or not math.isfinite(self.avg_logprob):
            return None
        return round(min(1.0, math.exp(self.avg_logprob)), 3)


def create_version(
    session: Session,
    lesson_id: str,
    *,
    source: CaptionSource,
    segments: Iterable[SegmentFacts],
    language: str,
    author: str | None = None,
    note: str | None = None,
    engine: str | None = None,
    model: str | None = None,
    detected_language: str | None = None,
    language_probability: float | None = None,
    review_reasons: Sequence[str] = (),
) -> CaptionVersion:
    """Add the lesson's next caption version with its segments (in the given order).

    Two concurrent writers both computing the same next number collide on the (lesson, version) unique
    constraint at flush: the caller's transaction fails with IntegrityError and nothing is half-written.
    """
    number = (latest_version_number(session, lesson_id) or 0) + 1
    version = CaptionVersion(
        lesson_id=lesson_id, version=number, revision=_revision_of(session, lesson_id), source=source, author=author, note=note, language=language,
        engine=engine, model=model, detected_language=detected_language,
        language_probability=language_probability, review_reasons=",".join(review_reasons) or None,
    )  # fmt: skip
    session.add(version)
    session.flush()
    assert version.id is not None
    for position, s in enumerate(segments):
        session.add(TranscriptSegment(
            caption_version_id=version.id, position=position, start_s=round(s.start_s, 3),
            end_s=round(s.end_s, 3), text=s.text, avg_logprob=s.avg_logprob, no_speech_prob=s.no_speech_prob,
            compression_ratio=s.compression_ratio, confidence=s.confidence, low_confidence=s.low_confidence))
    session.flush()
    return version


def _revision_of(session: Session, lesson_id: str) -> int:
    lesson = session.get(Lesson, lesson_id)
    return lesson.revision if lesson is not None else 1


def _of_current_revision(lesson_id: str) -> SelectOfScalar[CaptionVersion]:
    """Versions of the lesson's current revision: a new revision of a lesson starts its captions afresh (its
    numbers go on from the last one), and the earlier revision's captions stay in history."""
    return select(CaptionVersion).join(Lesson, col(Lesson.id) == col(CaptionVersion.lesson_id)).where(
        CaptionVersion.lesson_id == lesson_id, col(CaptionVersion.revision) == col(Lesson.revision))


def latest_version_number(session: Session, lesson_id: str) -> int | None:
    number = session.exec(
        select(func.max(CaptionVersion.version)).where(CaptionVersion.lesson_id == lesson_id)
    ).one()
    return int(number) if number is not None else None


def current_version(session: Session, lesson_id: str) -> CaptionVersion | None:
    """The newest version of the current revision: what reviewers see and edit."""
    return session.exec(_of_current_revision(lesson_id).order_by(col(CaptionVersion.version).desc()).limit(1)).first()


def get_version(session: Session, lesson_id: str, version: int) -> CaptionVersion | None:
    return session.exec(
        select(CaptionVersion).where(CaptionVersion.lesson_id == lesson_id, CaptionVersion.version == version)
    ).first()


def automatic_version(session: Session, lesson_id: str) -> CaptionVersion | None:
    """The version speech recognition made for the current revision, if it has run."""
    return session.exec(
        _of_current_revision(lesson_id).where(CaptionVersion.source == CaptionSource.AUTO)
        .order_by(col(CaptionVersion.version)).limit(1)
    ).first()


def list_versions(session: Session, lesson_id: str) -> list[CaptionVersion]:
    """Every version of the current revision, oldest first."""
    return list(session.exec(_of_current_revision(lesson_id).order_by(col(CaptionVersion.version))).all())


def list_segments(session: Session, caption_version_id: int) -> list[TranscriptSegment]:
    return list(session.exec(
        select(TranscriptSegment).where(TranscriptSegment.caption_version_id == caption_version_id)
        .order_by(col(TranscriptSegment.position))
    ).all())


def segment_counts(session: Session, lesson_id: str) -> dict[int, int]:
    """Number of segments by version number."""
    rows = session.exec(
        select(CaptionVersion.version, func.count(col(TranscriptSegment.id)))
        .join(TranscriptSegment, col(TranscriptSegment.caption_version_id) == col(CaptionVersion.id), isouter=True)
        .where(CaptionVersion.lesson_id == lesson_id)
        .group_by(col(CaptionVersion.version))
    ).all()
    return {int(version): int(count) for version, count in rows}


def review_reasons(version: CaptionVersion) -> list[str]:
    return [r for r in (version.review_reasons or "").split(",") if r]


def segment_facts(segments: Iterable[TranscriptSegment]) -> list[SegmentFacts]:
    return [SegmentFacts(start_s=s.start_s, end_s=s.end_s, text=s.text, avg_logprob=s.avg_logprob,
                         no_speech_prob=s.no_speech_prob, compression_ratio=s.compression_ratio,
                         low_confidence=s.low_confidence) for s in segments]
