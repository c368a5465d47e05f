"""Caption versions and transcript segments in the catalog, and captions as optional steps of a lesson."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from catalog import captions, jobs
from catalog.db import make_engine, unit_of_work
from catalog.lessons import LessonFields, create_lesson
from catalog.migrate import upgrade
from catalog.models import CaptionSource, CaptionVersion, JobState, Lesson, LessonStatus

WEIGHTS = {"probe": 5.0, "renditions": 70.0, "transcribe": 30.0, "captions": 15.0}
DEPENDENCIES = {"captions": ("renditions", "transcribe")}
OPTIONAL = frozenset({"transcribe", "captions"})


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue(
        "pg_database_url")
    upgrade(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()


def _lesson(engine: Engine) -> str:
    with unit_of_work(engine) as s:
        lesson = create_lesson(s, fields=LessonFields(title="数学课"), original_key="originals/x",
                               original_sha256="c" * 64, size_bytes=1, original_filename="x.mp4")
        return lesson.id


RECOGNISED = [
    captions.SegmentFacts(0.0, 2.5, "大家好。", avg_logprob=-0.2, no_speech_prob=0.01, compression_ratio=1.1),
    captions.SegmentFacts(2.5, 5.0, "以何以何。", avg_logprob=-1.4, no_speech_prob=0.2, compression_ratio=2.6,
                          low_confidence=True),
]


def test_versions_keep_every_edit_with_author_and_segments_in_order(engine: Engine) -> None:
    lesson_id = _lesson(engine)
    with unit_of_work(engine) as s:
        auto = captions.create_version(s, lesson_id, source=CaptionSource.AUTO, segments=RECOGNISED, language="zh",
                                       engine="faster-whisper", model="whisper-base", detected_language="zh",
                                       language_probability=0.97, review_reasons=("low_confidence",))
        assert auto.version == 1
    with unit_of_work(engine) as s:
        edited = captions.create_version(s, lesson_id, source=CaptionSource.EDITED, author="王审核", note="改错字",
                                         language="zh", segments=[captions.SegmentFacts(0.0, 5.0, "大家好，以后见。")])
        assert edited.version == 2
    with unit_of_work(engine) as s:
        current = captions.current_version(s, lesson_id)
        assert current is not None and (current.version, current.source, current.author) == (2, "edited", "王审核")
        first = captions.automatic_version(s, lesson_id)
        assert first is not None and first.version == 1
        assert captions.review_reasons(first) == ["low_confidence"] and captions.review_reasons(current) == []
        assert [v.version for v in captions.list_versions(s, lesson_id)] == [1, 2]
        assert captions.segment_counts(s, lesson_id) == {1: 2, 2: 1}
        assert first.id is not None
        segments = captions.list_segments(s, first.id)
        assert [(x.position, x.text, x.low_confidence) for x in segments] == [
            (0, "大家好。", False), (1, "以何以何。", True)]
        assert segments[0].confidence == pytest.approx(0.819, abs=1e-3)  # exp(-0.2)
        assert captions.get_version(s, lesson_id, 3) is None


def test_two_writers_cannot_both_create_the_same_version(engine: Engine) -> None:
    lesson_id = _lesson(engine)
    with unit_of_work(engine) as s:
        captions.create_version(s, lesson_id, source=CaptionSource.AUTO, segments=[], language="zh")
    with pytest.raises(IntegrityError), unit_of_work(engine) as s:
        s.add(CaptionVersion(lesson_id=lesson_id, version=1, source=CaptionSource.EDITED, language="zh"))
        s.flush()


def _jobs_done(engine: Engine, lesson_id: str, **states: JobState) -> Lesson:
    with unit_of_work(engine) as s:
        jobs.ensure_jobs(s, lesson_id, {step: "media" for step in states})
        for job in jobs.list_jobs(s, lesson_id):
            job.state = states[job.step]
            s.add(job)
        s.flush()
        lesson = jobs.refresh_lesson(s, lesson_id, WEIGHTS, OPTIONAL)
        assert lesson is not None
        return lesson


def test_failed_captions_leave_the_lesson_ready_but_a_failed_rendition_does_not(engine: Engine) -> None:
    lesson_id = _lesson(engine)
    lesson = _jobs_done(engine, lesson_id, probe=JobState.DONE, renditions=JobState.DONE,
                        transcribe=JobState.FAILED, captions=JobState.SKIPPED)
    assert lesson.status == LessonStatus.READY and lesson.progress == 100
    lesson = _jobs_done(engine, lesson_id, probe=JobState.DONE, renditions=JobState.FAILED,
                        transcribe=JobState.DONE, captions=JobState.SKIPPED)
    assert lesson.status == LessonStatus.FAILED


def test_an_edit_reruns_captions_and_the_ready_lesson_stays_ready(engine: Engine) -> None:
    lesson_id = _lesson(engine)
    _jobs_done(engine, lesson_id, probe=JobState.DONE, renditions=JobState.DONE, transcribe=JobState.DONE,
               captions=JobState.DONE)
    with unit_of_work(engine) as s:
        refs = jobs.restart_jobs(s, lesson_id, {"captions": "media"}, DEPENDENCIES)
        assert [(r.step, r.queue) for r in refs] == [("captions", "media")]
        lesson = jobs.refresh_lesson(s, lesson_id, WEIGHTS, OPTIONAL)
        assert lesson is not None and (lesson.status, lesson.progress) == (LessonStatus.READY, 100)
        job = next(j for j in jobs.list_jobs(s, lesson_id) if j.step == "captions")
        assert (job.state, job.attempts, job.error_code) == (JobState.PENDING, 0, None)


def test_steps_after_an_optional_failure_are_skipped_and_nothing_else(engine: Engine) -> None:
    lesson_id = _lesson(engine)
    with unit_of_work(engine) as s:
        jobs.ensure_jobs(s, lesson_id, {"audio_edition": "media", "transcribe": "asr", "captions": "media"})
        assert jobs.steps_after("transcribe", DEPENDENCIES) == {"captions"}
        jobs.skip_pending(s, lesson_id, only=jobs.steps_after("transcribe", DEPENDENCIES))
        states = {j.step: j.state for j in jobs.list_jobs(s, lesson_id)}
    assert states == {"audio_edition": "pending", "transcribe": "pending", "captions": "skipped"}
