"""Processing jobs with leases: the database decides who runs a step, so each step completes once.

A worker *claims* a pending job (or one whose lease expired) with one conditional UPDATE, renews the
lease while it works, and completes it only while it still holds the lease. A sweep turns expired
leases (the worker died, whatever the broker did with the message) back into pending jobs to re-enqueue.

A step whose input changes while it runs (a caption edit during the captions step) is *asked for again*
(:func:`restart_jobs`): the running worker keeps its lease, and its job comes back pending when the run
ends (:func:`finish`). However many requests arrive meanwhile, one run is in progress and one follows it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, case, or_, update
from sqlmodel import Session, col, select

from catalog.lessons import set_status
from catalog.models import Job, JobState, Lesson, LessonStatus, utcnow

WORKER_LOST_CODE = "worker_lost"
WORKER_LOST_MESSAGE = "处理进程多次中断，请联系管理员"


@dataclass(frozen=True)
class StepRef:
    lesson_id: str
    step: str
    queue: str


def ensure_jobs(session: Session, lesson_id: str, steps: Mapping[str, str],
                dependencies: Mapping[str, Sequence[str]] | None = None) -> list[StepRef]:
    """Create missing jobs (step -> queue) for a lesson; returns those pending whose prerequisites are met
    (per ``dependencies``: step -> steps it comes after), to enqueue after commit."""
    existing = {j.step: j for j in session.exec(select(Job).where(Job.lesson_id == lesson_id)).all()}
    for step, queue in steps.items():
        if step not in existing:
            job = Job(lesson_id=lesson_id, step=step, queue=queue)
            session.add(job)
            existing[step] = job
    session.flush()
    deps = dependencies or {}
    return [StepRef(lesson_id, j.step, j.queue) for j in existing.values()
            if j.step in steps and j.state == JobState.PENDING
            and prerequisites_met(session, lesson_id, deps.get(j.step, ()))]


FINISHED_STATES = (JobState.DONE, JobState.SKIPPED)
# What a step waits for. A failed prerequisite counts as finished: after a required step fails the lesson fails
# and its pending steps are skipped, so only a step restarted on purpose (captions typed by a reviewer after
# speech recognition failed) runs after a failure.
PREREQUISITE_DONE_STATES = (JobState.DONE, JobState.SKIPPED, JobState.FAILED)


def prerequisites_met(session: Session, lesson_id: str, after: Sequence[str]) -> bool:
    """True when every step in ``after`` that the lesson has is done, skipped or failed (absent steps do not block)."""
    if not after:
        return True
    blocking = session.exec(
        select(Job.id).where(Job.lesson_id == lesson_id, col(Job.step).in_(list(after)),
                             col(Job.state).not_in(list(PREREQUISITE_DONE_STATES)))
    ).first()
    return blocking is None


def runnable_after(session: Session, lesson_id: str, finished_step: str,
                   dependencies: Mapping[str, Sequence[str]]) -> list[StepRef]:
    """Pending jobs that waited on ``finished_step`` and now have every prerequisite met."""
    pending = session.exec(select(Job).where(Job.lesson_id == lesson_id, Job.state == JobState.PENDING)).all()
    return [StepRef(j.lesson_id, j.step, j.queue) for j in pending
            if finished_step in dependencies.get(j.step, ())
            and prerequisites_met(session, lesson_id, dependencies[j.step])]


def claim(session: Session, *, lesson_id: str, step: str, owner: str, lease_s: float,
          after: Sequence[str] = ()) -> bool:
    """Take the job if it is pending or its lease has expired, and the steps it comes ``after`` are finished.

    Exactly one caller wins. A job whose prerequisites are not finished is left pending: the step that
    finishes last enqueues it (see :func:`runnable_after`).
    """
    if not prerequisites_met(session, lesson_id, after):
        return False
    now = utcnow()
    result = session.execute(
        update(Job)
        .where(
            and_(
                col(Job.lesson_id) == lesson_id,
                col(Job.step) == step,
                or_(
                    col(Job.state) == JobState.PENDING,
                    and_(col(Job.state) == JobState.RUNNING, col(Job.lease_expires_at) < now),
                ),
            )
        )
        .values(
            state=JobState.RUNNING,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_s),
            attempts=col(Job.attempts) + 1,
            started_at=now,
            # Asked for no later than now: a clock ahead of this worker's (the API's, the sweep's) must not make
            # the fresh run look asked for again (see restart_jobs).
            enqueued_at=case((col(Job.enqueued_at) > now, now), else_=col(Job.enqueued_at)),
            progress=0.0,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0)) == 1


def renew(session: Session, *, lesson_id: str, step: str, owner: str, lease_s: float, progress: float) -> bool:
    """Extend the lease and record progress; False when the lease was lost to another worker."""
    result = session.execute(
        update(Job)
        .where(
            and_(col(Job.lesson_id) == lesson_id, col(Job.step) == step,
                 col(Job.lease_owner) == owner, col(Job.state) == JobState.RUNNING)
        )
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_s), progress=max(0.0, min(progress, 1.0)))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0)) == 1


def finish(
    session: Session,
    *,
    lesson_id: str,
    step: str,
    owner: str,
    state: JobState,
    error_code: str | None = None,
    error_message: str | None = None,
) -> JobState | None:
    """Mark the job done, failed or skipped if this owner still holds it; None when it does not.

    A job asked for again while it ran (:func:`restart_jobs`) is pending once more instead, with a fresh
    count of attempts; the result is then ``JobState.PENDING`` and the caller enqueues it after commit.
    """
    held = and_(col(Job.lesson_id) == lesson_id, col(Job.step) == step, col(Job.lease_owner) == owner)
    result = session.execute(
        update(Job)
        .where(and_(held, col(Job.state) == JobState.RUNNING))
        .values(state=state, progress=1.0 if state == JobState.DONE else col(Job.progress),
                finished_at=utcnow(), lease_expires_at=None, error_code=error_code,
                error_message=error_message)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(result, "rowcount", 0)) != 1:
        return None
    # The UPDATE above holds the row until commit, so a request for another run either landed before it
    # (and is seen here) or waits and finds the job finished (and restarts it).
    again = session.execute(
        update(Job)
        .where(and_(held, col(Job.state) == state, col(Job.enqueued_at) > col(Job.started_at)))
        .values(state=JobState.PENDING, progress=0.0, attempts=0, lease_owner=None, finished_at=None,
                error_code=None, error_message=None, enqueued_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return JobState.PENDING if int(getattr(again, "rowcount", 0)) == 1 else state


def release(session: Session, *, lesson_id: str, step: str, owner: str) -> None:
    """Give a job back (a transient error): pending again, to be retried."""
    session.execute(
        update(Job)
        .where(and_(col(Job.lesson_id) == lesson_id, col(Job.step) == step, col(Job.lease_owner) == owner,
                    col(Job.state) == JobState.RUNNING))
        .values(state=JobState.PENDING, lease_owner=None, lease_expires_at=None, enqueued_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def skip_pending(session: Session, lesson_id: str, *, only: Collection[str] | None = None) -> None:
    """After a fatal error, the lesson's remaining steps will not run (with ``only``: just those steps)."""
    condition = and_(col(Job.lesson_id) == lesson_id, col(Job.state) == JobState.PENDING)
    if only is not None:
        if not only:
            return
        condition = and_(condition, col(Job.step).in_(list(only)))
    session.execute(
        update(Job)
        .where(condition)
        .values(state=JobState.SKIPPED, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def restart_jobs(session: Session, lesson_id: str, steps: Mapping[str, str],
                 dependencies: Mapping[str, Sequence[str]] | None = None) -> list[StepRef]:
    """Run these steps (step -> queue) again, from the lesson's current input; returns the jobs to enqueue
    after commit. Requests arriving while a step runs or waits coalesce into one more run:

    - none yet, or finished (done, failed, skipped): reset to pending, with a fresh count of attempts, and
      returned when its prerequisites are met;
    - pending: left as it is: the run it waits for reads the newest input;
    - running: the worker keeps its lease, so no second run starts beside it; the job is marked as asked for
      again (enqueued after it started) and :func:`finish` makes it pending when the run ends.
    """
    existing = {j.step: j for j in session.exec(
        select(Job).where(Job.lesson_id == lesson_id, col(Job.step).in_(list(steps))).with_for_update()
    ).all()}
    now = utcnow()
    restarted = []
    for step, queue in steps.items():
        job = existing.get(step)
        if job is not None and job.state == JobState.PENDING:
            continue
        if job is not None and job.state == JobState.RUNNING:
            started = job.started_at or now
            job.enqueued_at = max(now, started + timedelta(microseconds=1))  # later than the start, whatever the clocks
            session.add(job)
            continue
        job = job or Job(lesson_id=lesson_id, step=step, queue=queue)
        job.state, job.progress, job.attempts = JobState.PENDING, 0.0, 0
        job.lease_owner = job.lease_expires_at = job.started_at = job.finished_at = None
        job.error_code = job.error_message = None
        job.enqueued_at = now
        session.add(job)
        restarted.append(StepRef(lesson_id, step, queue))
    session.flush()
    deps = dependencies or {}
    return [r for r in restarted if prerequisites_met(session, lesson_id, deps.get(r.step, ()))]


def list_jobs(session: Session, lesson_id: str) -> list[Job]:
    return list(session.exec(select(Job).where(Job.lesson_id == lesson_id).order_by(col(Job.id))).all())


def lesson_progress(jobs: list[Job], weights: Mapping[str, float]) -> int:
    total = sum(weights.get(j.step, 1.0) for j in jobs)
    if total <= 0:
        return 0
    done = sum(
        weights.get(j.step, 1.0) * (1.0 if j.state in (JobState.DONE, JobState.SKIPPED) else j.progress)
        for j in jobs
    )
    return int(100 * done / total)


def refresh_lesson(session: Session, lesson_id: str, weights: Mapping[str, float],
                   optional: Collection[str] = ()) -> Lesson | None:
    """Derive the lesson's status and progress from its jobs.

    A failed ``optional`` step (captions) does not fail the lesson: its error stays on the job. A ready lesson
    whose only unfinished jobs are optional (captions being redone after an edit) stays ready at 100%.
    """
    # Two steps finishing at once each see the other still running unless their refreshes take turns: the lesson
    # row's lock makes the second wait for the first's commit, and the jobs are then read as committed.
    lesson = session.get(Lesson, lesson_id, with_for_update=True, populate_existing=True)
    if lesson is None:
        return None
    jobs = list(session.exec(select(Job).where(Job.lesson_id == lesson_id).order_by(col(Job.id))
                             .execution_options(populate_existing=True)).all())
    failed = [j for j in jobs if j.state == JobState.FAILED and j.step not in optional]
    if failed:
        first = failed[0]
        set_status(session, lesson, LessonStatus.FAILED, error_code=first.error_code, error_message=first.error_message)
        return lesson
    unfinished = [j for j in jobs if j.state not in FINISHED_STATES
                  and not (j.state == JobState.FAILED and j.step in optional)]
    if jobs and not unfinished:
        set_status(session, lesson, LessonStatus.READY)
        return lesson
    if lesson.status == LessonStatus.READY and all(j.step in optional for j in unfinished):
        return lesson
    lesson.progress = min(lesson_progress(jobs, weights), 99)
    if any(j.state != JobState.PENDING for j in jobs) and lesson.status == LessonStatus.QUEUED:
        lesson.status = LessonStatus.PROCESSING
    lesson.updated_at = utcnow()
    session.add(lesson)
    session.flush()
    return lesson


def steps_after(step: str, dependencies: Mapping[str, Sequence[str]]) -> set[str]:
    """Every step that comes after ``step``, directly or through others."""
    found: set[str] = set()
    frontier = {step}
    while frontier:
        frontier = {s for s, after in dependencies.items() if frontier & set(after)} - found
        found |= frontier
    return found


@dataclass(frozen=True)
class SweepResult:
    requeue: list[StepRef]
    failed_lessons: set[str]


def sweep(session: Session, *, max_attempts: int, stale_pending_s: float,
          weights: Mapping[str, float], optional: Collection[str] = (),
          dependencies: Mapping[str, Sequence[str]] | None = None) -> SweepResult:
    """Find jobs to enqueue again: expired leases (dead workers) and long-forgotten pending jobs.

    A job whose lease expired ``max_attempts`` times is failed instead (it keeps killing workers), and
    its lesson fails with it; an ``optional`` one takes only the steps that come after it (per
    ``dependencies``) down with it. Lessons touched get their status and progress refreshed.
    """
    now = utcnow()
    requeue: list[StepRef] = []
    failed_lessons: set[str] = set()
    optional_failures: list[Job] = []
    expired = session.exec(
        select(Job).where(Job.state == JobState.RUNNING, col(Job.lease_expires_at) < now)
    ).all()
    for job in expired:
        if job.attempts >= max_attempts:
            job.state = JobState.FAILED
            job.error_code = WORKER_LOST_CODE
            job.error_message = WORKER_LOST_MESSAGE
            job.finished_at = now
            if job.step in optional:
                optional_failures.append(job)
            else:
                failed_lessons.add(job.lesson_id)
        else:
            job.state = JobState.PENDING
            job.lease_owner = None
            job.lease_expires_at = None
            job.enqueued_at = now
            requeue.append(StepRef(job.lesson_id, job.step, job.queue))
        session.add(job)
    stale = session.exec(
        select(Job).where(Job.state == JobState.PENDING,
                          col(Job.enqueued_at) < now - timedelta(seconds=stale_pending_s))
    ).all()
    for job in stale:
        job.enqueued_at = now
        session.add(job)
        requeue.append(StepRef(job.lesson_id, job.step, job.queue))
    session.flush()
    for lesson_id in failed_lessons:
        skip_pending(session, lesson_id)
    for job in optional_failures:
        skip_pending(session, job.lesson_id, only=steps_after(job.step, dependencies or {}))
    touched = failed_lessons | {j.lesson_id for j in optional_failures} | {r.lesson_id for r in requeue}
    for lesson_id in touched:
        refresh_lesson(session, lesson_id, weights, optional)
    return SweepResult(requeue=requeue, failed_lessons=failed_lessons)
