"""Lessons processed before the `hls` step get their presentation from `weike hls backfill`, once; running the step
again packages nothing and records the same master."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from catalog import jobs
from catalog.assets import list_assets
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, get_lesson
from catalog.models import AssetKind, Job, LessonStatus
from tests.support.media import make_landscape_720p_clip
from tests.support.stacks import build_embedded, settings_env
from workers import hls_steps, pipeline
from workers.intake import admit_stream
from workers.pipeline import OPTIONAL_STEPS, WEIGHTS, execute_step
from workers.wiring import context_for

ROOT = Path(__file__).resolve().parents[2]


def _weike(settings: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **settings_env(settings), "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def _hls_assets(ctx: Any, lesson_id: str) -> list[tuple[str, str]]:
    with unit_of_work(ctx.engine) as session:
        return [(a.public_id, a.key) for a in list_assets(session, lesson_id) if a.kind == AssetKind.HLS]


def test_backfill_gives_old_lessons_their_hls_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = build_embedded(tmp_path / "var", x264_preset="ultrafast")
    ctx = context_for(settings)
    clip = make_landscape_720p_clip(tmp_path / "clip.mp4", duration_s=5.0)
    with clip.open("rb") as fh:
        lesson_id = admit_stream(ctx, fh, filename="clip.mp4", fields=LessonFields(title="老课程")).lesson.id
    for step in ("probe", "renditions", "poster", "audio_edition"):
        execute_step(ctx, lesson_id, step)
    with unit_of_work(ctx.engine) as session:  # processed before there were hls and similarity steps
        for job in session.exec(select(Job).where(Job.lesson_id == lesson_id,
                                                  col(Job.step).in_(["hls", "similarity"]))).all():
            session.delete(job)
        session.flush()
        lesson = jobs.refresh_lesson(session, lesson_id, WEIGHTS, OPTIONAL_STEPS)
        assert lesson is not None and lesson.status == LessonStatus.READY
    assert _hls_assets(ctx, lesson_id) == []

    first = _weike(settings, "hls", "backfill")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "已提交 1 节课" in first.stdout, first.stdout
    with unit_of_work(ctx.engine) as session:
        [job] = [j for j in jobs.list_jobs(session, lesson_id) if j.step == "hls"]
        assert job.state == "pending"
        lesson = get_lesson(session, lesson_id)
        assert lesson is not None and lesson.status == LessonStatus.READY  # stays ready and playable meanwhile
    execute_step(ctx, lesson_id, "hls")  # what the worker does with the message
    [(public_id, key)] = _hls_assets(ctx, lesson_id)
    assert key == f"lessons/{lesson_id}/hls-r1/master.m3u8"
    store = settings.data_dir / "store" / "lessons" / lesson_id / "hls-r1"
    assert {"360p.m3u8", "720p.m3u8", "variants.json"} <= {p.name for p in store.iterdir()}

    again = _weike(settings, "hls", "backfill")
    assert again.returncode == 0 and "所有课程都已有" in again.stdout, again.stdout

    # Asked for again (a redelivery, a caption edit): nothing is packaged twice, the same master is recorded.
    def no_packaging(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the renditions were packaged again")

    monkeypatch.setattr(hls_steps, "package_rendition", no_packaging)
    monkeypatch.setattr(pipeline, "enqueue", lambda *args: None)
    pipeline.request_steps(ctx, lesson_id, ["hls"])
    execute_step(ctx, lesson_id, "hls")
    assert _hls_assets(ctx, lesson_id) == [(public_id, key)]
    with unit_of_work(ctx.engine) as session:
        assert [j.state for j in jobs.list_jobs(session, lesson_id) if j.step == "hls"] == ["done"]
