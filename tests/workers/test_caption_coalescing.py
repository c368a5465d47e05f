"""Caption edits posted in a burst coalesce: one captions run in progress, one more after it, of the latest version.

The steps run in-process, no Celery: messages the pipeline would send are recorded instead, and the burn and the
mux are watched (still run for real) to count the encodes. The job rules underneath are checked on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from catalog import captions, jobs
from catalog.assets import list_assets
from catalog.captions import SegmentFacts
from catalog.db import make_engine, unit_of_work
from catalog.lessons import LessonFields, create_lesson, get_lesson
from catalog.migrate import upgrade
from catalog.models import CaptionSource, Job, JobState, LessonStatus, utcnow
from tests.support.media import make_plain_clip
from tests.support.stacks import build_embedded
from transcode.errors import TranscodeError
from transcode.open_captions import burn_captions
from transcode.subtitle_mux import mux_subtitles
from workers import asr_steps, caption_edits, pipeline
from workers.asr_steps import STEP_FUNCTIONS as CAPTION_FUNCTIONS
from workers.caption_edits import save_edited_captions
from workers.intake import admit_stream
from workers.pipeline import DEPENDENCIES, LessonInput, StepIO, StepOutcome, execute_step
from workers.steps import STEP_FUNCTIONS
from workers.wiring import Context, context_for

BURST = 20
CAPTIONS = {"captions": "media"}


class Sent:
    """The step messages the pipeline and the edits would have sent, in order."""

    def __init__(self) -> None:
        self.refs: list[jobs.StepRef] = []

    def __call__(self, _settings: object, refs: Sequence[jobs.StepRef]) -> None:
        self.refs.extend(refs)

    def take(self) -> list[jobs.StepRef]:
        taken, self.refs = self.refs, []
        return taken


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    recorder = Sent()
    monkeypatch.setattr(pipeline, "enqueue", recorder)
    monkeypatch.setattr(caption_edits, "enqueue", recorder)
    return recorder


def _captions_job(ctx: Context, lesson_id: str) -> Job:
    with unit_of_work(ctx.engine) as s:
        return next(j for j in jobs.list_jobs(s, lesson_id) if j.step == "captions")


def _published(ctx: Context, lesson_id: str) -> tuple[int | None, dict[tuple[str, str], str]]:
    with unit_of_work(ctx.engine) as s:
        lesson = get_lesson(s, lesson_id)
        assert lesson is not None
        return lesson.caption_version, {(a.kind, a.label): a.key for a in list_assets(s, lesson_id)}


def _edit(ctx: Context, lesson_id: str, n: int) -> int:
    return save_edited_captions(ctx, lesson_id, author="王老师", segments=[
        {"start_s": 0.2, "end_s": 1.8, "text": f"第{n}次修改：大家好。"}]).version  # fmt: skip


def test_a_burst_of_edits_during_a_run_makes_one_more_run_of_the_latest_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sent: Sent
) -> None:
    settings = build_embedded(tmp_path / "var", asr_enabled=True, x264_preset="ultrafast")
    ctx = context_for(settings)
    clip = make_plain_clip(tmp_path / "clip.mp4", duration_s=4.0, faststart=True)
    with clip.open("rb") as fh:
        lesson_id = admit_stream(ctx, fh, filename="clip.mp4", fields=LessonFields(title="数学课")).lesson.id
    for step in ("probe", "renditions"):
        execute_step(ctx, lesson_id, step, STEP_FUNCTIONS[step])
    with unit_of_work(ctx.engine) as s:  # what transcribe would have recorded
        captions.create_version(s, lesson_id, source=CaptionSource.AUTO, language="zh",
                                segments=[SegmentFacts(0.2, 1.8, "大家好。", avg_logprob=-0.3)])
        for job in jobs.list_jobs(s, lesson_id):
            if job.step == "transcribe":
                job.state = JobState.DONE
                s.add(job)
    execute_step(ctx, lesson_id, "captions", CAPTION_FUNCTIONS["captions"])
    assert _published(ctx, lesson_id)[0] == 1
    sent.take()  # the messages of the steps so far

    burned: list[str] = []  # open-caption editions encoded, by file name
    muxed: list[str] = []
    during_run: dict[str, Any] = {}

    def mux(plain: Path, srt: Path, out: Path, **kw: Any) -> Any:
        muxed.append(out.name)
        return mux_subtitles(plain, srt, out, **kw)

    def burn(plain: Path, cues: Any, out: Path, **kw: Any) -> Any:
        burned.append(out.name)
        if len(burned) == 1:  # reviewers keep saving while the open captions of version 2 are being burned
            holder = _captions_job(ctx, lesson_id)
            during_run["versions"] = [_edit(ctx, lesson_id, n) for n in range(3, 3 + BURST)]
            during_run["sent"] = sent.take()
            execute_step(ctx, lesson_id, "captions", CAPTION_FUNCTIONS["captions"])  # a redelivered message
            job = _captions_job(ctx, lesson_id)
            during_run["job"] = (job.state, job.lease_owner == holder.lease_owner, job.attempts)
        return burn_captions(plain, cues, out, **kw)

    monkeypatch.setattr(asr_steps, "burn_captions", burn)  # watched, still run
    monkeypatch.setattr(asr_steps, "mux_subtitles", mux)

    assert _edit(ctx, lesson_id, 2) == 2
    assert [(r.step, r.queue) for r in sent.take()] == [("captions", "media")]
    execute_step(ctx, lesson_id, "captions", CAPTION_FUNCTIONS["captions"])
    latest = 2 + BURST
    assert during_run["versions"] == list(range(3, latest + 1))  # each edit is its own version
    assert during_run["sent"] == []  # nothing enqueued while the run went on ...
    assert during_run["job"] == (JobState.RUNNING, True, 1)  # ... nor its lease taken, nor a second run started
    assert burned == ["open-captions-v2.mp4"]
    # The run published what it made (newer than version 1), and its job came back for one more run.
    assert _published(ctx, lesson_id)[0] == 2
    job = _captions_job(ctx, lesson_id)
    assert (job.state, job.attempts) == (JobState.PENDING, 0)
    follow_up = sent.take()
    assert [(r.step, r.queue) for r in follow_up] == [("captions", "media")]

    for _ in range(2):  # the follow-up, then the same message delivered twice
        execute_step(ctx, lesson_id, "captions", CAPTION_FUNCTIONS["captions"])
    assert burned == ["open-captions-v2.mp4", f"open-captions-v{latest}.mp4"]  # versions 3..21: never encoded
    assert {name.rsplit("-cc", 1)[1] for name in muxed} == {"2.mp4", f"{latest}.mp4"}
    assert [(r.step, r.queue) for r in sent.take()] == [("hls", "media")]  # its HLS follows the published captions
    assert _captions_job(ctx, lesson_id).state == JobState.DONE
    version, assets = _published(ctx, lesson_id)
    assert version == latest
    assert assets[("open_captions", "")].endswith(f"/open-captions-v{latest}.mp4")
    assert assets[("subtitles_vtt", "")].endswith(f"/subtitles-v{latest}.vtt")
    assert all(key.endswith(f"-cc{latest}.mp4") for (kind, _), key in assets.items() if kind == "rendition")
    store = settings.data_dir / "store"
    assert f"第{latest}次修改" in (store / assets[("subtitles_vtt", "")]).read_text(encoding="utf-8")
    lesson_dir = store / "lessons" / lesson_id
    assert sorted(p.name for p in lesson_dir.glob("open-captions-v*.mp4")) == [
        "open-captions-v2.mp4", f"open-captions-v{latest}.mp4"]  # the previous edition stays for its viewers
    with unit_of_work(ctx.engine) as s:
        assert len(captions.list_versions(s, lesson_id)) == latest  # history keeps every edit


def test_a_run_that_fails_while_edits_wait_makes_one_more_run(tmp_path: Path, sent: Sent) -> None:
    settings = build_embedded(tmp_path / "var")
    ctx = context_for(settings)
    with unit_of_work(ctx.engine) as s:
        lesson = create_lesson(s, fields=LessonFields(title="数学课"), original_key="originals/x",
                               original_sha256="d" * 64, size_bytes=1, original_filename="x.mp4")
        lesson.duration_s, lesson.status, lesson.progress = 10.0, LessonStatus.READY, 100
        s.add(lesson)
        lesson_id = lesson.id
        jobs.ensure_jobs(s, lesson_id, CAPTIONS)

    def failing(ctx: Context, lesson: LessonInput, io: StepIO) -> StepOutcome:
        with unit_of_work(ctx.engine) as s:  # an edit arrives during the run ...
            assert jobs.restart_jobs(s, lesson.lesson_id, CAPTIONS, DEPENDENCIES) == []
        return _fail(ctx, lesson, io)  # ... which then fails

    execute_step(ctx, lesson_id, "captions", failing)
    job = _captions_job(ctx, lesson_id)
    assert (job.state, job.error_code) == (JobState.PENDING, None)
    assert [(r.step, r.queue) for r in sent.take()] == [("captions", "media")]
    execute_step(ctx, lesson_id, "captions", _fail)
    job = _captions_job(ctx, lesson_id)
    assert (job.state, job.error_code) == (JobState.FAILED, "transcode_failed")  # no edit waited: it stays failed
    assert sent.take() == []


def _fail(ctx: Context, lesson: LessonInput, io: StepIO) -> StepOutcome:
    raise TranscodeError("the burn broke")


# --- the job rules, on both databases ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_database_url")
    upgrade(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()


def _lesson(engine: Engine) -> str:
    with unit_of_work(engine) as s:
        lesson = create_lesson(s, fields=LessonFields(title="田间课堂"), original_key="originals/" + "a" * 64,
                               original_sha256="a" * 64, size_bytes=10, original_filename="x.mp4")
        jobs.ensure_jobs(s, lesson.id, CAPTIONS)
        return lesson.id


def _claim(engine: Engine, lesson_id: str, owner: str, lease_s: float = 30) -> bool:
    with unit_of_work(engine) as s:
        return jobs.claim(s, lesson_id=lesson_id, step="captions", owner=owner, lease_s=lease_s)


def _restart(engine: Engine, lesson_id: str) -> list[jobs.StepRef]:
    with unit_of_work(engine) as s:
        return jobs.restart_jobs(s, lesson_id, CAPTIONS, DEPENDENCIES)


def _finish(engine: Engine, lesson_id: str, owner: str) -> JobState | None:
    with unit_of_work(engine) as s:
        return jobs.finish(s, lesson_id=lesson_id, step="captions", owner=owner, state=JobState.DONE)


def test_restarts_during_a_run_keep_its_lease_and_add_one_run(engine: Engine) -> None:
    lesson_id = _lesson(engine)
    assert _restart(engine, lesson_id) == []  # pending: the run it waits for reads the newest input
    assert _claim(engine, lesson_id, "w1")
    for _ in range(BURST):
        assert _restart(engine, lesson_id) == []
    assert not _claim(engine, lesson_id, "duplicate")  # a redelivered message finds it running
    with unit_of_work(engine) as s:
        assert jobs.renew(s, lesson_id=lesson_id, step="captions", owner="w1", lease_s=30, progress=0.5)
    assert _finish(engine, lesson_id, "w1") == JobState.PENDING
    assert _claim(engine, lesson_id, "w2")
    assert _finish(engine, lesson_id, "w2") == JobState.DONE  # nothing asked for during the second run
    assert [r.step for r in _restart(engine, lesson_id)] == ["captions"]  # finished: starts again


def test_clocks_out_of_step_neither_lose_a_restart_nor_invent_one(engine: Engine) -> None:
    lesson_id = _lesson(engine)
    with unit_of_work(engine) as s:  # enqueued by a host whose clock runs a minute ahead of the worker's
        job = next(j for j in jobs.list_jobs(s, lesson_id) if j.step == "captions")
        job.enqueued_at = utcnow() + timedelta(seconds=60)
        s.add(job)
    assert _claim(engine, lesson_id, "w1")
    assert _finish(engine, lesson_id, "w1") == JobState.DONE
    assert [r.step for r in _restart(engine, lesson_id)] == ["captions"]
    assert _claim(engine, lesson_id, "w2")
    with unit_of_work(engine) as s:  # now the worker's clock is the one ahead
        job = next(j for j in jobs.list_jobs(s, lesson_id) if j.step == "captions")
        assert job.started_at is not None
        job.started_at = job.started_at + timedelta(seconds=60)
        s.add(job)
    assert _restart(engine, lesson_id) == []
    assert _finish(engine, lesson_id, "w2") == JobState.PENDING


def test_a_worker_killed_after_a_restart_is_swept_and_its_successor_runs_once(engine: Engine) -> None:
    lesson_id = _lesson(engine)
    assert _claim(engine, lesson_id, "killed", lease_s=0.2)
    assert _restart(engine, lesson_id) == []
    time.sleep(0.4)
    with unit_of_work(engine) as s:
        swept = jobs.sweep(s, max_attempts=3, stale_pending_s=600, weights={"captions": 1.0},
                           optional={"captions"}, dependencies=DEPENDENCIES)
    assert [r.step for r in swept.requeue] == ["captions"]
    assert _finish(engine, lesson_id, "killed") is None  # its lease is gone
    assert _claim(engine, lesson_id, "w2")
    with unit_of_work(engine) as s:
        assert next(j for j in jobs.list_jobs(s, lesson_id) if j.step == "captions").attempts == 2
    assert _finish(engine, lesson_id, "w2") == JobState.DONE  # it read the newest input: no run after it
