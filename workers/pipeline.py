"""A lesson's processing, step by step.

    upload ──> probe ──┬──> renditions     (video: 720p/360p ladder, one decode) ───────┐
                       ├──> poster         (video frame, or an audio file's cover picture)  │
                       ├──> audio_edition  (every lesson with sound: portable MP3)          │
                       └──> transcribe     (queue asr: Whisper, transcript) ──> captions ◄──┘
                                           (subtitle files, soft subtitles in the renditions, open-caption edition)
                                           ──> lesson ready when every job is done (or an optional one failed)

A step runs once every step it comes ``after`` is finished; transcribe and captions are optional (a lesson
whose speech recognition fails is still ready, with the caption error on its job).

Each step is a Celery task (workers/tasks/media.py) that calls :func:`execute_step`: claim the job's
lease in the database, work on a local copy with no transaction open, publish outputs under
deterministic keys, then record the assets and finish the job in one transaction, only while still
holding the lease. A redelivered or re-enqueued step therefore finds its job done (or leased) and does
nothing, and a lesson gets exactly one set of assets. A job asked for again while it ran (a caption edit,
catalog/jobs.py `restart_jobs`) comes back pending when it ends, and is enqueued once more.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from catalog import jobs
from catalog.assets import AssetFacts, record_asset
from catalog.db import unit_of_work
from catalog.lessons import get_lesson
from catalog.models import AssetKind, JobState, Organisation
from ingest.errors import IngestError
from transcode import silk
from transcode.errors import TranscodeError
from workers.settings import Settings
from workers.wiring import Context, scratch_dir, sender_for

log = logging.getLogger(__name__)

INTERNAL_ERROR_CODE = "internal_error"
INTERNAL_ERROR_MESSAGE = "处理时发生内部错误，请联系管理员"


@dataclass(frozen=True)
class StepSpec:
    name: str
    queue: str
    weight: float  # share of the lesson's progress bar
    after: tuple[str, ...] = ()  # steps that must be finished (done, skipped or failed) first, when the lesson has them
    optional: bool = False  # a failure stays on its job and skips what comes after; the lesson still gets ready
    uses_original: bool = True  # False: the step works from other assets, so the original is not copied locally


STEPS: dict[str, StepSpec] = {
    s.name: s
    for s in (
        StepSpec("probe", "media", 5),
        StepSpec("renditions", "media", 70),
        StepSpec("poster", "media", 5),
        StepSpec("audio_edition", "media", 20),
        # Captions (workers/asr_steps.py): speech recognition on its own queue, then subtitle files, soft subtitles
        # muxed into the renditions and the open-caption edition.
        StepSpec("transcribe", "asr", 30, optional=True),
        StepSpec("captions", "media", 15, after=("renditions", "transcribe"), optional=True, uses_original=False),
    )
}
WEIGHTS = {name: spec.weight for name, spec in STEPS.items()}
DEPENDENCIES = {name: spec.after for name, spec in STEPS.items()}
OPTIONAL_STEPS = frozenset(name for name, spec in STEPS.items() if spec.optional)


@dataclass(frozen=True)
class LessonInput:
    """What a step needs to know about its lesson, read before the work starts."""

    lesson_id: str
    original_key: str
    title: str
    speaker: str | None
    branch: str | None
    recorded_on: str | None


@dataclass
class StepOutcome:
    """What a step produced: assets to record, and for probe, facts and the next steps."""

    assets: list[tuple[AssetKind, str, AssetFacts]] = field(default_factory=list)
    media_kind: str | None = None
    duration_s: float | None = None
    original_mime: str | None = None
    next_steps: Sequence[str] = ()


class LeaseLost(Exception):
    """Another worker took this job over (our lease expired): stop working on it."""


class ProgressReporter:
    """Renews the job's lease and records progress, at most every ``interval_s``."""

    def __init__(self, ctx: Context, lesson_id: str, step: str, owner: str, interval_s: float = 2.0) -> None:
        self.ctx, self.lesson_id, self.step, self.owner = ctx, lesson_id, step, owner
        self.interval_s = interval_s
        self._last = 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self._last < self.interval_s and fraction < 1.0:
            return
        self._last = now
        with unit_of_work(self.ctx.engine) as session:
            held = jobs.renew(session, lesson_id=self.lesson_id, step=self.step, owner=self.owner,
                              lease_s=self.ctx.settings.job_lease_s, progress=fraction)
            if held:
                jobs.refresh_lesson(session, self.lesson_id, WEIGHTS, OPTIONAL_STEPS)
        if not held:
            raise LeaseLost(f"{self.lesson_id}/{self.step}")


StepFunction = Callable[[Context, LessonInput, "StepIO"], StepOutcome]


@dataclass(frozen=True)
class StepIO:
    """The local files a step works on, and its progress callback."""

    original: Path | None  # the local copy of the original; None for a step that does not use it
    tmp: Path  # the job's scratch folder
    progress: ProgressReporter
    # The format the original was decoded from when ffmpeg cannot read it ("silk": `original` is then a WAV).
    decoded_from: str | None = None

    @property
    def src(self) -> Path:
        if self.original is None:
            raise RuntimeError("this step was declared with uses_original=False")
        return self.original


def enqueue(settings: Settings, refs: Sequence[jobs.StepRef]) -> None:
    """Send step tasks; call only after the transaction that created the jobs has committed."""
    if not refs:
        return
    app = sender_for(settings)
    for ref in refs:
        app.send_task(f"{ref.queue}.{ref.step}", args=[ref.lesson_id], queue=ref.queue)


def start_lesson(settings: Settings, ctx: Context, lesson_id: str) -> None:
    """Create the probe job for a new lesson and enqueue it."""
    with unit_of_work(ctx.engine) as session:
        refs = jobs.ensure_jobs(session, lesson_id, {"probe": STEPS["probe"].queue})
    enqueue(settings, refs)


def _read_input(ctx: Context, lesson_id: str) -> LessonInput | None:
    with unit_of_work(ctx.engine) as session:
        lesson = get_lesson(session, lesson_id)
        if lesson is None:
            return None
        branch = session.get(Organisation, lesson.branch_id) if lesson.branch_id else None
        return LessonInput(
            lesson_id=lesson.id,
            original_key=lesson.original_key,
            title=lesson.title,
            speaker=lesson.speaker,
            branch=branch.name if branch else None,
            recorded_on=lesson.recorded_on.isoformat() if lesson.recorded_on else None,
        )


def _record_failure(ctx: Context, lesson_id: str, step: str, owner: str, code: str,
                    message: str) -> list[jobs.StepRef]:
    with unit_of_work(ctx.engine) as session:
        ended = jobs.finish(session, lesson_id=lesson_id, step=step, owner=owner, state=JobState.FAILED,
                            error_code=code, error_message=message)
        if ended == JobState.PENDING:  # asked for again while it ran: the next run works from newer input
            jobs.refresh_lesson(session, lesson_id, WEIGHTS, OPTIONAL_STEPS)
            return [jobs.StepRef(lesson_id, step, STEPS[step].queue)]
        if ended:
            only = jobs.steps_after(step, DEPENDENCIES) if STEPS[step].optional else None
            jobs.skip_pending(session, lesson_id, only=only)
            jobs.refresh_lesson(session, lesson_id, WEIGHTS, OPTIONAL_STEPS)
    return []


def _record_success(ctx: Context, lesson_id: str, step: str, owner: str, outcome: StepOutcome) -> list[jobs.StepRef]:
    with unit_of_work(ctx.engine) as session:
        ended = jobs.finish(session, lesson_id=lesson_id, step=step, owner=owner, state=JobState.DONE)
        if not ended:
            log.warning("lease on %s/%s lost before completion; outputs left to the new owner", lesson_id, step)
            return []
        for kind, label, facts in outcome.assets:
            record_asset(session, lesson_id, kind, facts, label=label)
        lesson = get_lesson(session, lesson_id)
        if lesson is not None and step == "probe":
            lesson.media_kind = outcome.media_kind
            lesson.duration_s = outcome.duration_s
            session.add(lesson)
            if outcome.original_mime:
                record_asset(session, lesson_id, AssetKind.ORIGINAL, AssetFacts(
                    key=lesson.original_key, mime_type=outcome.original_mime, size_bytes=lesson.size_bytes,
                    sha256=lesson.original_sha256, duration_s=outcome.duration_s))
        refs = jobs.ensure_jobs(session, lesson_id, {s: STEPS[s].queue for s in outcome.next_steps}, DEPENDENCIES)
        refs += [r for r in jobs.runnable_after(session, lesson_id, step, DEPENDENCIES) if r not in refs]
        if ended == JobState.PENDING:  # asked for again while it ran: once more, from the newer input
            refs.append(jobs.StepRef(lesson_id, step, STEPS[step].queue))
        jobs.refresh_lesson(session, lesson_id, WEIGHTS, OPTIONAL_STEPS)
    return refs


def execute_step(ctx: Context, lesson_id: str, step: str, run: StepFunction) -> None:
    """Claim, work, record. Retryable storage errors propagate (the task retries with backoff)."""
    owner = uuid.uuid4().hex
    with unit_of_work(ctx.engine) as session:
        if not jobs.claim(session, lesson_id=lesson_id, step=step, owner=owner, lease_s=ctx.settings.job_lease_s,
                          after=STEPS[step].after):
            log.info("%s/%s is done, running elsewhere or waiting on earlier steps; nothing to do", lesson_id, step)
            return
        jobs.refresh_lesson(session, lesson_id, WEIGHTS, OPTIONAL_STEPS)
    lesson = _read_input(ctx, lesson_id)
    if lesson is None:
        return
    progress = ProgressReporter(ctx, lesson_id, step, owner)
    try:
        with ExitStack() as stack:
            src = stack.enter_context(ctx.storage.local_copy(lesson.original_key)) if STEPS[step].uses_original else None
            tmp = stack.enter_context(scratch_dir(ctx.settings))
            decoded_from = None
            if src is not None and silk.is_silk(src):  # a WeChat voice note: ffmpeg reads the WAV decoded from it
                src = silk.decode_silk(src, tmp / "voice-note.wav", limits=ctx.settings.media_limits)
                decoded_from = silk.FORMAT_NAME
            outcome = run(ctx, lesson, StepIO(original=src, tmp=tmp, progress=progress, decoded_from=decoded_from))
    except LeaseLost:
        log.warning("%s/%s: lease lost to another worker; stopping", lesson_id, step)
        return
    except (TranscodeError, IngestError) as exc:
        if exc.retryable:
            with unit_of_work(ctx.engine) as session:
                jobs.release(session, lesson_id=lesson_id, step=step, owner=owner)
            raise
        log.info("%s/%s refused: %s (%s)", lesson_id, step, exc.code, exc)
        enqueue(ctx.settings, _record_failure(ctx, lesson_id, step, owner, exc.code, exc.message))
        return
    except Exception:
        log.exception("%s/%s failed unexpectedly", lesson_id, step)
        enqueue(ctx.settings, _record_failure(ctx, lesson_id, step, owner, INTERNAL_ERROR_CODE,
                                              INTERNAL_ERROR_MESSAGE))
        return
    enqueue(ctx.settings, _record_success(ctx, lesson_id, step, owner, outcome))
