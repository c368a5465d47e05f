"""A broken speech recogniser never makes a lesson unplayable: the pipeline's steps run in-process, no Celery."""

from __future__ import annotations

from pathlib import Path

from api.presenters import lesson_public
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, get_lesson
from catalog.lifecycle import Viewer
from catalog.models import Role
from tests.support.stacks import build_embedded
from workers.asr_steps import STEP_FUNCTIONS as CAPTION_FUNCTIONS
from workers.intake import admit_stream
from workers.pipeline import execute_step
from workers.steps import STEP_FUNCTIONS
from workers.wiring import context_for

REVIEWER = Viewer(username="wang", role=Role.REVIEWER, account_id=1)


def test_a_missing_model_fails_only_the_captions(tmp_path: Path, mandarin_wav: Path) -> None:
    settings = build_embedded(tmp_path / "var", asr_enabled=True, asr_model=str(tmp_path / "no-such-model"))
    ctx = context_for(settings)
    with mandarin_wav.open("rb") as fh:
        lesson_id = admit_stream(ctx, fh, filename="方言课.wav", fields=LessonFields(title="方言课")).lesson.id
    execute_step(ctx, lesson_id, "probe", STEP_FUNCTIONS["probe"])
    execute_step(ctx, lesson_id, "transcribe", CAPTION_FUNCTIONS["transcribe"])
    execute_step(ctx, lesson_id, "audio_edition", STEP_FUNCTIONS["audio_edition"])
    execute_step(ctx, lesson_id, "similarity")  # copy detection, last: it compares what the lesson has
    with unit_of_work(ctx.engine) as session:
        lesson = get_lesson(session, lesson_id)
        assert lesson is not None
        public = lesson_public(session, lesson, REVIEWER)  # the county sees jobs and their errors
    assert public.status == "ready" and public.error is None and public.progress == 100
    jobs = {j.step: j for j in public.jobs}
    assert {step: j.state for step, j in jobs.items()} == {
        "probe": "done", "audio_edition": "done", "transcribe": "failed", "captions": "skipped", "similarity": "done"}
    error = jobs["transcribe"].error
    assert error is not None and error.code == "asr_model_unavailable"
    assert public.captions is not None and public.captions.state == "failed"
    assert public.captions.error == error and "语音识别" in error.message
    assert {a.kind for a in public.assets} == {"original", "audio_edition"}


def test_captions_typed_after_recognition_failed_are_published(tmp_path: Path, mandarin_wav: Path) -> None:
    from workers.caption_edits import save_edited_captions

    settings = build_embedded(tmp_path / "var", asr_enabled=True, asr_model=str(tmp_path / "no-such-model"))
    ctx = context_for(settings)
    with mandarin_wav.open("rb") as fh:
        lesson_id = admit_stream(ctx, fh, filename="方言课.wav", fields=LessonFields(title="方言课")).lesson.id
    for step, functions in (("probe", STEP_FUNCTIONS), ("transcribe", CAPTION_FUNCTIONS),
                            ("audio_edition", STEP_FUNCTIONS)):  # fmt: skip
        execute_step(ctx, lesson_id, step, functions[step])
    execute_step(ctx, lesson_id, "similarity")
    # The reviewer types what the speaker says; the captions step, skipped after the failure, runs again.
    version = save_edited_captions(ctx, lesson_id, author="县委审核员", segments=[
        {"start_s": 0.0, "end_s": 3.0, "text": "乡亲们好，今天讲讲种水稻。"}])  # fmt: skip
    assert (version.version, version.source) == (1, "edited")
    execute_step(ctx, lesson_id, "captions", CAPTION_FUNCTIONS["captions"])
    with unit_of_work(ctx.engine) as session:
        lesson = get_lesson(session, lesson_id)
        assert lesson is not None
        public = lesson_public(session, lesson, REVIEWER)  # the county sees jobs and their errors
    assert public.status == "ready" and public.caption_version == 1
    assert public.captions is not None and public.captions.state == "ready", public.captions
    assert {j.step: j.state for j in public.jobs}["captions"] == "done"
    assert {"subtitles_vtt", "subtitles_srt", "transcript"} <= {a.kind for a in public.assets}
