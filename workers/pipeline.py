"""A lesson's processing, step by step: the one registry of steps (STEPS) and the executor every step runs in.

    upload ──> probe ──┬──> renditions     (video: 720p/360p ladder, one decode) ───────┬──────────────┐
                       ├──> poster         (video frame, or an audio file's cover picture)  │              │
                       ├──> audio_edition  (every lesson with sound: portable MP3)          │              │
                       └──> transcribe     (queue asr: Whisper, transcript) ──> captions ◄──┘              │
                                           (subtitle files, soft subtitles in the renditions, open-caption  │
                                            edition) ──> hls ◄──────────────────────────────────────────────┘
                                           (adaptive playback: the renditions as fMP4 HLS, by stream copy, with
                                            the subtitles as a subtitle rendition)
                                           ──> similarity (copy detection, workers/similarity_steps.py: last, with
                                            whatever signals the lesson has)
                                           ──> lesson ready when every job is done (or an optional one failed)

Adding a step is one StepSpec in STEPS: its function, its queue, which lessons want it (asked of probe's result),
what it comes after. Probe's jobs, the order, what a failure skips, the progress weights, the one Celery task per
queue (workers/tasks/media.py) and what a caption edit runs again (workers/caption_edits.py) all follow from it.
A step runs once every step it comes ``after`` is finished; transcribe, captions, hls and similarity are optional
(a lesson whose speech recognition, HLS packaging or copy detection fails is still ready and plays its MP4
renditions).

Each step runs in :func:`execute_step`: claim the job's lease in the database, work on a local copy with no
transaction open, publish outputs under deterministic keys, then record the step's outcome (assets, lesson facts)
and finish the job in one transaction, only while still holding the lease. A redelivered or re-enqueued step
therefore finds its job done (or leased) and does nothing, and a lesson gets exactly one set of assets. A job asked
for again while it ran (a caption edit, catalog/jobs.py `restart_jobs`) comes back pending when it ends, and is
enqueued once more. Two things still sit outside the outcome: SILK voice notes are decoded here, before any step
that reads the original, and the caption steps write their caption versions and assets themselves, in a transaction
that first renews the lease (workers/asr_steps.py).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from contextlib import ExitStack

from sqlmodel import Session

from catalog import jobs
from catalog.assets import AssetFacts, list_assets, record_asset
from catalog.db import unit_of_work
from catalog.lessons import get_lesson
from catalog.models import AssetKind, JobState, Organisation
from catalog.packs import mark_packs_stale
from ingest.errors import IngestError
from transcode import silk
from transcode.errors import TranscodeError
from transcode.probe import ProbeResult
from workers.asr_steps import captions_step, transcribe_step, wants_captions
from workers.hls_steps import hls_step
from workers.settings import Settings
from workers.similarity_steps import similarity_step, wants_similarity
from workers.step_io import (
    LeaseLost,
    LessonInput,
    ProgressReporter,
    RecordedAsset,
    StepFunction,
    StepIO,
    StepOutcome,
    StepSpec,
)
from workers.steps import audio_edition_step, poster_step, probe_step, renditions_step
from workers.wiring import Context, scratch_dir, sender_for

__all__ = ["DEPENDENCIES", "OPTIONAL_STEPS", "STEPS", "WEIGHTS", "LeaseLost", "LessonInput", "ProgressReporter",
           "StepIO", "StepOutcome", "StepSpec", "enqueue", "execute_step", "start_lesson"]

log = logging.getLogger(__name__)

INTERNAL_ERROR_CODE = "internal_error"
INTERNAL_ERROR_MESSAGE = "处理时发生内部错误，请联系管理员"


def _video(settings: Settings, probe: ProbeResult) -> bool:
    return probe.video is not None


def _picture(settings: Settings, probe: ProbeResult) -> bool:
    return probe.video is not None or probe.cover_art_index is not None


def _sound(settings: Settings, probe: ProbeResult) -> bool:
    return probe.audio is not None


# The steps, in the order a lesson goes through them. Audio-only lessons get no HLS: their MP3 audio edition already
# streams with Range requests, and one rung has nothing to adapt between.
STEPS: dict[str, StepSpec] = {
    s.name: s
    for s in (
        StepSpec("probe", probe_step, "media", 5),
        StepSpec("renditions", renditions_step, "media", 70, wanted=_video),
        StepSpec("poster", poster_step, "media", 5, wanted=_picture),
        StepSpec("audio_edition", audio_edition_step, "media", 20, wanted=_sound),
        StepSpec("transcribe", transcribe_step, "asr", 30, wanted=wants_captions, optional=True),
        StepSpec("captions", captions_step, "media", 15, wanted=wants_captions, after=("renditions", "transcribe"),
                 optional=True, uses_original=False),
        StepSpec("hls", hls_step, "media", 5, wanted=_video, after=("renditions", "captions"), needs=("renditions",),
                 optional=True, uses_original=False),
        StepSpec("similarity", similarity_step, "media", 5, wanted=wants_similarity,
                 after=("renditions", "audio_edition", "captions", "hls"), needs=(), optional=True,
                 uses_original=False),
    )
}
FIRST_STEP = "probe"
QUEUES = tuple(dict.fromkeys(spec.queue for spec in STEPS.values()))
WEIGHTS = {name: spec.weight for name, spec in STEPS.items()}
DEPENDENCIES = {name: spec.after for name, spec in STEPS.items()}  # what each step waits for
NEEDS = {name: spec.required_steps for name, spec in STEPS.items()}  # whose failure skips it
OPTIONAL_STEPS = frozenset(name for name, spec in STEPS.items() if spec.optional)


def step_task_name(queue: str) -> str:
    """The one Celery task of a queue (workers/tasks/media.py): it runs any step, named in its arguments."""
    return f"{queue}.step"


def steps_wanted(settings: Settings, probe: ProbeResult) -> list[str]:
    return [name for name, spec in STEPS.items() if spec.wanted is not None and spec.wanted(settings, probe)]


def enqueue(settings: Settings, refs: Sequence[jobs.StepRef]) -> None:
    """Send step tasks; call only after the transaction that created the jobs has committed."""
    if not refs:
        return
    app = sender_for(settings)
    for ref in refs:
        app.send_task(step_task_name(ref.queue), args=[ref.lesson_id, ref.step], queue=ref.queue)


def start_lesson(settings: Settings, ctx: Context, lesson_id: str) -> None:
    """Create the first step's job for a new lesson and enqueue it."""
    with unit_of_work(ctx.engine) as session:
        refs = jobs.ensure_jobs(session, lesson_id, {FIRST_STEP: STEPS[FIRST_STEP].queue})
    enqueue(settings, refs)


def request_steps(ctx: Context, lesson_id: str, steps: Iterable[str]) -> list[jobs.StepRef]:
    """Run these steps of a lesson (again), from its current input: coalesced with a run in progress or waiting
    (catalog/jobs.py `restart_jobs`). Returns what was enqueued now; the rest is enqueued by the steps they wait for."""
    with unit_of_work(ctx.engine) as session:
        refs = jobs.restart_jobs(session, lesson_id, {s: STEPS[s].queue for s in steps}, DEPENDENCIES)
        jobs.refresh_lesson(session, lesson_id, WEIGHTS, OPTIONAL_STEPS)
    enqueue(ctx.settings, refs)
    return refs


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
            original_sha256=lesson.original_sha256,
            original_size_bytes=lesson.size_bytes,
            revision=lesson.revision,
            duration_s=lesson.duration_s,
            assets=tuple(
                RecordedAsset(a.kind, a.label, AssetFacts(
                    key=a.key, mime_type=a.mime_type, size_bytes=a.size_bytes, sha256=a.sha256,
                    duration_s=a.duration_s, width=a.width, height=a.height, bit_rate=a.bit_rate))
                for a in list_assets(session, lesson_id)
            ),
        )  # fmt: skip


def _runnable_after(session: Session, lesson_id: str, finished: Iterable[str]) -> list[jobs.StepRef]:
    refs: list[jobs.StepRef] = []
    for step in finished:
        refs += [r for r in jobs.runnable_after(session, lesson_id, step, DEPENDENCIES) if r not in refs]
    return refs


def _record_failure(ctx: Context, lesson_id: str, step: str, owner: str, code: str,
                    message: str) -> list[jobs.StepRef]:
    with unit_of_work(ctx.engine) as session:
        ended = jobs.finish(session, lesson_id=lesson_id, step=step, owner=owner, state=JobState.FAILED,
                            error_code=code, error_message=message)
        if ended == JobState.PENDING:  # asked for again while it ran: the next run works from newer input
            jobs.refresh_lesson(session, lesson_id, WEIGHTS, OPTIONAL_STEPS)
            return [jobs.StepRef(lesson_id, step, STEPS[step].queue)]
        refs: list[jobs.StepRef] = []
        if ended:
            skipped = jobs.steps_after(step, NEEDS) if STEPS[step].optional else None
            jobs.skip_pending(session, lesson_id, only=skipped)
            if skipped is not None:  # what only waited for the failed or skipped steps may run now (hls after captions)
                refs = _runnable_after(session, lesson_id, [step, *sorted(skipped)])
            jobs.refresh_lesson(session, lesson_id, WEIGHTS, OPTIONAL_STEPS)
    return refs


def _record_outcome(session: Session, lesson_id: str, outcome: StepOutcome) -> None:
    for kind, label, facts in outcome.assets:
        record_asset(session, lesson_id, kind, facts, label=label)
        if kind == AssetKind.AUDIO_EDITION:
            mark_packs_stale(session, lesson_id)  # a revision's new audio: packs holding the lesson get a new version
    if outcome.media_kind is None and outcome.duration_s is None:
        return
    lesson = get_lesson(session, lesson_id)
    if lesson is not None:
        if outcome.media_kind is not None:
            lesson.media_kind = outcome.media_kind
        if outcome.duration_s is not None:
            lesson.duration_s = outcome.duration_s
        session.add(lesson)


def _record_success(ctx: Context, lesson_id: str, step: str, owner: str, outcome: StepOutcome) -> list[jobs.StepRef]:
    with unit_of_work(ctx.engine) as session:
        ended = jobs.finish(session, lesson_id=lesson_id, step=step, owner=owner, state=JobState.DONE)
        if not ended:
            log.warning("lease on %s/%s lost before completion; outputs left to the new owner", lesson_id, step)
            return []
        _record_outcome(session, lesson_id, outcome)
        next_steps = list(outcome.next_steps)
        if outcome.probe is not None:
            next_steps += [s for s in steps_wanted(ctx.settings, outcome.probe) if s not in next_steps]
        refs = jobs.ensure_jobs(session, lesson_id, {s: STEPS[s].queue for s in next_steps}, DEPENDENCIES)
        refs += [r for r in _runnable_after(session, lesson_id, [step]) if r not in refs]
        if ended == JobState.PENDING:  # asked for again while it ran: once more, from the newer input
            refs.append(jobs.StepRef(lesson_id, step, STEPS[step].queue))
        jobs.refresh_lesson(session, lesson_id, WEIGHTS, OPTIONAL_STEPS)
    return refs


def execute_step(ctx: Context, lesson_id: str, step: str, run: StepFunction | None = None) -> None:
    """Claim, work, record. Retryable storage errors propagate (the task retries with backoff).

    `run` replaces the registered function (tests inject faults with it)."""
    spec = STEPS[step]
    run = run or spec.run
    owner = uuid.uuid4().hex
    with unit_of_work(ctx.engine) as session:
        if not jobs.claim(session, lesson_id=lesson_id, step=step, owner=owner, lease_s=ctx.settings.job_lease_s,
                          after=spec.after):
            log.info("%s/%s is done, running elsewhere or waiting on earlier steps; nothing to do", lesson_id, step)
            return
        jobs.refresh_lesson(session, lesson_id, WEIGHTS, OPTIONAL_STEPS)
    lesson = _read_input(ctx, lesson_id)
    if lesson is None:
        return
    progress = ProgressReporter(ctx, lesson_id, step, owner, weights=WEIGHTS, optional=OPTIONAL_STEPS)
    try:
        with ExitStack() as stack:
            src = stack.enter_context(ctx.storage.local_copy(lesson.original_key)) if spec.uses_original else None
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
