"""Lessons processed before the `similarity` step are compared by `weike similar backfill`, once: two old lessons
that are copies of each other then list each other as similar, an old audio lesson gets its sound print, and a
lesson already compared, a failed one and one not processed yet are left alone; a second run asks for nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from sqlmodel import col, delete, select
from typer.testing import CliRunner, Result

import api.cli
from api.app import create_app
from api.cli import cli
from catalog import captions, jobs
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, get_lesson
from catalog.models import CaptionSource, Job, JobState, LessonStatus, SimilarityKey
from catalog.similar_index import TRANSCRIPT_KEYS_FORMAT, get_fingerprint
from catalog.similar_spans import KEY_TRANSCRIPT, kind_range
from catalog.similarity import REPORT_THRESHOLD
from tests.support.accounts import bearer, make_account, token_for
from tests.support.media import run_tool
from tests.support.services import require_tool
from tests.support.stacks import build_embedded, settings_env
from transcode.errors import CorruptMedia
from workers.backfill import lessons_lacking
from workers.intake import admit_stream
from workers.pipeline import OPTIONAL_STEPS, WEIGHTS, execute_step
from workers.settings import Settings, get_settings
from workers.step_io import LessonInput, StepIO, StepOutcome
from workers.wiring import Context, context_for

FILM_S = 6
# What the first lesson's speaker said, as speech recognition published it before there was copy detection.
SAID = ["同志们好，今天讲一讲怎样给果树剪枝。", "冬天落叶以后，先剪掉病枝和枯枝，再剪交叉的枝条。",
        "剪口要平，离芽一公分左右，伤口大的要涂上保护剂。", "剪完以后把枝条收走烧掉，不要留在果园里。"]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The embedded shape; the CLI finds it through WEIKE_* (get_settings is cached: cleared around each run)."""
    for tool in ("ffmpeg", "fpcalc"):
        require_tool(tool)
    for name in [n for n in os.environ if n.startswith("WEIKE_")]:
        monkeypatch.delenv(name)
    built: Settings = build_embedded(tmp_path / "var", x264_preset="ultrafast")
    for name, value in settings_env(built).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(api.cli, "console", Console(width=200))  # no wrapping of Chinese messages
    get_settings.cache_clear()
    yield built
    get_settings.cache_clear()


def weike(*args: str) -> Result:
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, list(args))
    finally:
        get_settings.cache_clear()


def make_film(path: Path) -> Path:
    """FILM_S seconds of 640x360 test pattern, with a tone that changes pitch three times a second."""
    run_tool("ffmpeg", "-f", "lavfi", "-i", f"testsrc2=s=640x360:r=25:d={FILM_S}", "-f", "lavfi",
             "-i", f"aevalsrc=0.5*sin(2*PI*(300+60*mod(floor(t*3)\\,7))*t):s=44100:d={FILM_S}",
             "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", path)  # fmt: skip
    return path


def make_copy(src: Path, path: Path) -> Path:
    """Another branch's copy: the picture re-encoded smaller and rougher, the sound as it was."""
    run_tool("ffmpeg", "-i", src, "-vf", "scale=480:270", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "32",
             "-c:a", "copy", path)
    return path


def make_retagged(src: Path, path: Path, title: str) -> Path:
    """The same media under another title tag: other bytes, so another lesson."""
    run_tool("ffmpeg", "-i", src, "-c", "copy", "-metadata", f"title={title}", path)
    return path


def make_tone(path: Path, hz: int) -> Path:
    run_tool("ffmpeg", "-f", "lavfi", "-i", f"sine=f={hz}:d=5", "-c:a", "aac", path)
    return path


def admit(ctx: Context, path: Path, title: str) -> str:
    with path.open("rb") as fh:
        return admit_stream(ctx, fh, filename=path.name, fields=LessonFields(title=title)).lesson.id


def run_steps(ctx: Context, lesson_id: str, *steps: str) -> None:
    for step in steps:
        execute_step(ctx, lesson_id, step)


def processed_before_similarity(ctx: Context, lesson_id: str) -> None:
    """As a lesson processed before copy detection looks: no `similarity` job (nor `hls`, older still)."""
    with unit_of_work(ctx.engine) as s:
        for job in s.exec(select(Job).where(Job.lesson_id == lesson_id,
                                            col(Job.step).in_(["hls", "similarity"]))).all():
            s.delete(job)
        s.flush()
        lesson = jobs.refresh_lesson(s, lesson_id, WEIGHTS, OPTIONAL_STEPS)
        assert lesson is not None and lesson.status == LessonStatus.READY
        assert get_fingerprint(s, lesson_id) is None


def publish_captions(ctx: Context, lesson_id: str, sentences: list[str]) -> None:
    with unit_of_work(ctx.engine) as s:
        segments, t = [], 0.0
        for text in sentences:
            segments.append(captions.SegmentFacts(round(t, 2), round(t + 1.4, 2), text))
            t += 1.5
        captions.create_version(s, lesson_id, source=CaptionSource.AUTO, language="zh", segments=segments)
        lesson = get_lesson(s, lesson_id)
        assert lesson is not None
        lesson.caption_version = 1
        s.add(lesson)


def similarity_jobs(ctx: Context, lesson_ids: list[str]) -> dict[str, list[str]]:
    with unit_of_work(ctx.engine) as s:
        return {i: [j.state for j in jobs.list_jobs(s, i) if j.step == "similarity"] for i in lesson_ids}


def broken_audio_edition(ctx: Context, lesson: LessonInput, io: StepIO) -> StepOutcome:
    raise CorruptMedia("test: the audio edition could not be made")


def test_backfill_compares_old_lessons_once_and_both_ways(settings: Settings, tmp_path: Path) -> None:
    ctx = context_for(settings)
    film = make_film(tmp_path / "剪枝.mp4")
    old = admit(ctx, film, "果树剪枝")
    old_copy = admit(ctx, make_copy(film, tmp_path / "剪枝-转发.mp4"), "果树冬季修剪")
    old_audio = admit(ctx, make_tone(tmp_path / "旧录音.m4a", 523), "旧录音")
    for lesson_id in (old, old_copy):
        run_steps(ctx, lesson_id, "probe", "renditions", "poster", "audio_edition")
    run_steps(ctx, old_audio, "probe", "audio_edition")
    publish_captions(ctx, old, SAID)  # speech recognised back then: the step reads the captions it finds
    for lesson_id in (old, old_copy, old_audio):
        processed_before_similarity(ctx, lesson_id)
    compared = admit(ctx, make_tone(tmp_path / "新录音.m4a", 330), "新录音")
    run_steps(ctx, compared, "probe", "audio_edition", "similarity")  # processed with copy detection
    failed = admit(ctx, make_retagged(film, tmp_path / "失败.mp4", "失败"), "失败")
    run_steps(ctx, failed, "probe", "renditions")  # its renditions made, then its audio edition failed
    execute_step(ctx, failed, "audio_edition", run=broken_audio_edition)
    queued = admit(ctx, make_retagged(film, tmp_path / "未处理.mp4", "未处理"), "未处理")
    with unit_of_work(ctx.engine) as s:
        status = {i: getattr(get_lesson(s, i), "status", None) for i in (compared, failed, queued)}
        assert get_fingerprint(s, compared) is not None
    assert status == {compared: LessonStatus.READY, failed: LessonStatus.FAILED, queued: LessonStatus.QUEUED}
    assert lessons_lacking(ctx, "similarity") == [old, old_copy, old_audio]
    others = [compared, failed, queued]
    before = similarity_jobs(ctx, others)

    waited = weike("similar", "backfill", "--wait", "--timeout-s", "1")  # no worker here: the wait runs out
    assert waited.exit_code == 1, waited.output
    assert "已提交 3 节课，已比对 0 节" in waited.output, waited.output
    second = weike("similar", "backfill")  # asks again: each request coalesces with the job already waiting
    assert second.exit_code == 0, second.output
    assert "已提交 3 节课，由后台处理进程比对" in second.output, second.output
    assert similarity_jobs(ctx, [old, old_copy, old_audio]) == {
        old: [JobState.PENDING], old_copy: [JobState.PENDING], old_audio: [JobState.PENDING]}
    with unit_of_work(ctx.engine) as s:
        assert all(getattr(get_lesson(s, i), "status", None) == LessonStatus.READY for i in (old, old_copy))
    for lesson_id in (old, old_copy, old_audio):
        execute_step(ctx, lesson_id, "similarity")  # what the worker does with the messages

    with unit_of_work(ctx.engine) as s:
        prints = {i: get_fingerprint(s, i) for i in (old, old_copy, old_audio)}
    signals = {i: (p.transcript is not None, p.footage is not None, p.sound is not None)
               for i, p in prints.items() if p is not None}
    assert signals == {old: (True, True, True), old_copy: (False, True, True), old_audio: (False, False, True)}

    make_account(settings, "shen", "reviewer")
    with TestClient(create_app(settings)) as client:
        headers = bearer(token_for(client, "shen"))
        similar = {i: client.get(f"/api/v1/lessons/{i}/similar", headers=headers)
                   for i in (old, old_copy, old_audio, compared)}
    assert all(r.status_code == 200 for r in similar.values()), {i: r.text for i, r in similar.items()}
    [found] = similar[old_copy].json()  # the second lesson compared found the first ...
    assert found["lesson_id"] == old and found["score"] >= REPORT_THRESHOLD
    assert found["signals"]["footage"] >= REPORT_THRESHOLD  # the sound: too short to compare (MIN_SOUND_ITEMS)
    [back] = similar[old].json()  # ... and the first, compared before the second had a print, lists it too
    assert back["lesson_id"] == old_copy and back["score"] == found["score"]
    assert similar[old_audio].json() == [] and similar[compared].json() == []

    again = weike("similar", "backfill")
    assert again.exit_code == 0 and "所有课程都已做过相似比对" in again.output, again.output
    assert similarity_jobs(ctx, [old, old_copy, old_audio]) == {
        old: [JobState.DONE], old_copy: [JobState.DONE], old_audio: [JobState.DONE]}
    assert similarity_jobs(ctx, others) == before


def test_a_transcript_keyed_by_an_older_format_is_keyed_again(settings: Settings, tmp_path: Path) -> None:
    ctx = context_for(settings)
    lesson = admit(ctx, make_tone(tmp_path / "剪枝录音.m4a", 440), "果树剪枝（录音）")
    run_steps(ctx, lesson, "probe", "audio_edition")
    publish_captions(ctx, lesson, SAID)
    execute_step(ctx, lesson, "similarity")

    def transcript_keys() -> set[int]:
        first, last = kind_range(KEY_TRANSCRIPT)
        with unit_of_work(ctx.engine) as s:
            row = get_fingerprint(s, lesson)
            assert row is not None
            return set(s.exec(select(SimilarityKey.key).where(
                SimilarityKey.fingerprint_id == row.id, col(SimilarityKey.key) >= first,
                col(SimilarityKey.key) < last)).all())

    current = transcript_keys()
    assert current and lessons_lacking(ctx, "similarity") == []
    with unit_of_work(ctx.engine) as s:  # as a row indexed before the format changed looks: other keys, format 1
        row = get_fingerprint(s, lesson)
        assert row is not None and row.transcript_keys_format == TRANSCRIPT_KEYS_FORMAT
        row.transcript_keys_format = 1
        s.add(row)
        s.execute(delete(SimilarityKey).where(col(SimilarityKey.fingerprint_id) == row.id))
        s.add(SimilarityKey(key=min(current) + 1 if min(current) + 1 not in current else min(current) - 1,
                            fingerprint_id=row.id or 0))
    assert lessons_lacking(ctx, "similarity") == [lesson]

    assert weike("similar", "backfill").exit_code == 0
    execute_step(ctx, lesson, "similarity")  # the footage and sound are as stored; the transcript is keyed again
    assert transcript_keys() == current
    with unit_of_work(ctx.engine) as s:
        row = get_fingerprint(s, lesson)
        assert row is not None and row.transcript_keys_format == TRANSCRIPT_KEYS_FORMAT
    assert lessons_lacking(ctx, "similarity") == []
