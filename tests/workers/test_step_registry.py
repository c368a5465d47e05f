"""The one registry of steps: what follows a failure comes from it. HLS waits for the captions but does not need them:
when captions (or speech recognition before them) fail, the lesson still gets its HLS presentation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from catalog import jobs
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, create_lesson
from catalog.models import JobState, LessonStatus
from tests.support.stacks import build_embedded
from transcode.errors import TranscodeError
from workers import pipeline
from workers.pipeline import STEPS, execute_step
from workers.step_io import LessonInput, StepIO, StepOutcome
from workers.wiring import Context, context_for


def _fail(ctx: Context, lesson: LessonInput, io: StepIO) -> StepOutcome:
    raise TranscodeError("broken")


def test_every_step_is_registered_once_with_a_known_order() -> None:
    for name, spec in STEPS.items():
        assert spec.name == name and callable(spec.run)
        assert set(spec.after) <= set(STEPS) and set(spec.required_steps) <= set(spec.after)
    assert STEPS["hls"].after == ("renditions", "captions") and STEPS["hls"].required_steps == ("renditions",)
    assert jobs.steps_after("captions", pipeline.NEEDS) == set()
    assert jobs.steps_after("renditions", pipeline.NEEDS) == {"captions", "hls"}


@pytest.mark.parametrize("failing", ["transcribe", "captions"])
def test_hls_runs_when_the_captions_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    settings = build_embedded(tmp_path / "var")
    ctx = context_for(settings)
    sent: list[jobs.StepRef] = []

    def record(_settings: object, refs: Sequence[jobs.StepRef]) -> None:
        sent.extend(refs)

    monkeypatch.setattr(pipeline, "enqueue", record)
    with unit_of_work(ctx.engine) as session:
        lesson = create_lesson(session, fields=LessonFields(title="数学课"), original_key="originals/x",
                               original_sha256="e" * 64, size_bytes=1, original_filename="x.mp4")
        lesson_id = lesson.id
        jobs.ensure_jobs(session, lesson_id, {s: STEPS[s].queue for s in STEPS}, pipeline.DEPENDENCIES)
        for job in jobs.list_jobs(session, lesson_id):
            if job.step in ("probe", "renditions", "poster", "audio_edition", "transcribe") and job.step != failing:
                job.state = JobState.DONE
                session.add(job)
    execute_step(ctx, lesson_id, failing, _fail)
    with unit_of_work(ctx.engine) as session:
        states = {j.step: j.state for j in jobs.list_jobs(session, lesson_id)}
    assert states[failing] == JobState.FAILED
    if failing == "transcribe":
        assert states["captions"] == JobState.SKIPPED
    assert states["hls"] == JobState.PENDING
    assert [(r.step, r.queue) for r in sent] == [("hls", "media")]
    with unit_of_work(ctx.engine) as session:
        refreshed = jobs.refresh_lesson(session, lesson_id, pipeline.WEIGHTS, pipeline.OPTIONAL_STEPS)
        assert refreshed is not None and refreshed.status != LessonStatus.FAILED
