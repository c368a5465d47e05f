"""The database decides who runs a step: leases, takeover after a worker dies, the sweep."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.engine import Engine

from catalog import jobs
from catalog.db import make_engine, unit_of_work
from catalog.lessons import LessonFields, create_lesson
from catalog.migrate import upgrade
from catalog.models import Job, JobState, Lesson, LessonStatus

WEIGHTS = {"probe": 5.0, "renditions": 70.0}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_database_url")
    upgrade(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()


def _lesson(engine: Engine, sha: str = "a" * 64) -> str:
    with unit_of_work(engine) as s:
        lesson = create_lesson(s, fields=LessonFields(title="田间课堂"), original_key=f"originals/{sha}",
                               original_sha256=sha, size_bytes=10, original_filename="x.mp4")
        jobs.ensure_jobs(s, lesson.id, {"probe": "media"})
        return lesson.id


def _claim(engine: Engine, lesson_id: str, owner: str, lease_s: float = 30) -> bool:
    with unit_of_work(engine) as s:
        return jobs.claim(s, lesson_id=lesson_id, step="probe", owner=owner, lease_s=lease_s)


def test_only_one_of_many_concurrent_claims_wins(engine: Engine) -> None:
    lesson_id = _lesson(engine)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: _claim(engine, lesson_id, f"w{i}"), range(8)))
    assert results.count(True) == 1


def test_expired_lease_is_taken_over_and_old_owner_cannot_finish(engine: Engine) -> None:
    lesson_id = _lesson(engine)
    assert _claim(engine, lesson_id, "dead", lease_s=2.0)  # long enough that a busy machine claims "early" inside it
    assert not _claim(engine, lesson_id, "early")
    time.sleep(2.2)
    assert _claim(engine, lesson_id, "alive")
    with unit_of_work(engine) as s:
        assert not jobs.renew(s, lesson_id=lesson_id, step="probe", owner="dead", lease_s=30, progress=0.5)
        assert not jobs.finish(s, lesson_id=lesson_id, step="probe", owner="dead", state=JobState.DONE)
        assert jobs.finish(s, lesson_id=lesson_id, step="probe", owner="alive", state=JobState.DONE)
        job = s.exec(jobs.select(Job).where(Job.lesson_id == lesson_id)).one()
        assert job.state == JobState.DONE and job.attempts == 2
    assert not _claim(engine, lesson_id, "late")


def test_sweep_requeues_expired_jobs_then_gives_up(engine: Engine) -> None:
    lesson_id = _lesson(engine)
    for attempt in range(3):
        assert _claim(engine, lesson_id, f"w{attempt}", lease_s=0.1)
        time.sleep(0.2)
        with unit_of_work(engine) as s:
            result = jobs.sweep(s, max_attempts=3, stale_pending_s=600, weights=WEIGHTS)
        if attempt < 2:
            assert [r.step for r in result.requeue] == ["probe"]
            assert not result.failed_lessons
        else:
            assert result.requeue == [] and result.failed_lessons == {lesson_id}
    with unit_of_work(engine) as s:
        lesson = s.get(Lesson, lesson_id)
        assert lesson is not None
        assert lesson.status == LessonStatus.FAILED and lesson.error_code == jobs.WORKER_LOST_CODE


def test_lesson_is_ready_only_when_every_job_is_done(engine: Engine) -> None:
    lesson_id = _lesson(engine)
    assert _claim(engine, lesson_id, "w")
    with unit_of_work(engine) as s:
        jobs.finish(s, lesson_id=lesson_id, step="probe", owner="w", state=JobState.DONE)
        jobs.ensure_jobs(s, lesson_id, {"renditions": "media"})
        lesson = jobs.refresh_lesson(s, lesson_id, WEIGHTS)
        assert lesson is not None and lesson.status == LessonStatus.PROCESSING and lesson.progress < 100
    with unit_of_work(engine) as s:
        assert jobs.claim(s, lesson_id=lesson_id, step="renditions", owner="w2", lease_s=30)
        assert jobs.renew(s, lesson_id=lesson_id, step="renditions", owner="w2", lease_s=30, progress=0.5)
        lesson = jobs.refresh_lesson(s, lesson_id, WEIGHTS)
        assert lesson is not None and 50 <= lesson.progress < 60
        jobs.finish(s, lesson_id=lesson_id, step="renditions", owner="w2", state=JobState.DONE)
        lesson = jobs.refresh_lesson(s, lesson_id, WEIGHTS)
        assert lesson is not None and lesson.status == LessonStatus.READY and lesson.progress == 100


def test_two_steps_finishing_at_once_leave_the_lesson_ready(engine: Engine) -> None:
    """Renditions and poster of a short clip finished within 2 ms of each other on PostgreSQL and each refresh saw
    the other step still running: the lesson stayed 'processing' for ever. Refreshes now take turns on the lesson."""
    import threading

    lesson_id = _lesson(engine)
    with unit_of_work(engine) as s:
        jobs.ensure_jobs(s, lesson_id, {"renditions": "media", "poster": "media"})
        for job in jobs.list_jobs(s, lesson_id):
            job.state = JobState.DONE if job.step == "probe" else JobState.RUNNING
            s.add(job)

    def finish(step: str) -> None:
        with unit_of_work(engine) as s:
            job = next(j for j in jobs.list_jobs(s, lesson_id) if j.step == step)
            job.state = JobState.DONE
            s.add(job)
            s.flush()
            jobs.refresh_lesson(s, lesson_id, {"probe": 5, "renditions": 70, "poster": 5})
            if step == "renditions":
                first_refreshed.set()
                second_started.wait(timeout=10)
                time.sleep(0.3)  # the poster's refresh runs meanwhile: it must wait for this commit

    first_refreshed, second_started = threading.Event(), threading.Event()
    first = threading.Thread(target=finish, args=("renditions",))
    first.start()
    assert first_refreshed.wait(timeout=10)
    second_started.set()
    finish("poster")
    first.join(timeout=10)
    with unit_of_work(engine) as s:
        lesson = s.get(Lesson, lesson_id)
        assert lesson is not None and lesson.status == LessonStatus.READY, (lesson.status if lesson else None)
