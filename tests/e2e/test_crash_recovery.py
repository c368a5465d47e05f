"""A worker killed with SIGKILL in the middle of a transcode: after a restart the lesson completes exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from tests.conftest import STACKS
from tests.support.lessons import assets_of, fetch, scratch_leftovers, stored_keys, upload, wait_finished
from tests.support.media import ffprobe_json, run_tool

pytestmark = pytest.mark.e2e


@pytest.fixture(params=STACKS)
def stack_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    from tests.support.stacks import stack

    # A slow preset makes the transcode last long enough to be killed in the middle of it.
    with stack(request.param, tmp_path / "var", request, asr_enabled=False, x264_preset="slow") as settings:
        yield settings


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of 1280x720 at a phone's bit rate (too high to stream-copy): the 720p rung must be encoded."""
    path = tmp_path_factory.mktemp("crash") / "long_clip.mp4"
    run_tool("ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30:d=8", "-f", "lavfi", "-i", "sine=f=440:d=8",
             "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "6M", "-pix_fmt", "yuv420p", "-c:a", "aac",
             "-shortest", path)  # fmt: skip
    return path


def _jobs(settings: Any, lesson_id: str) -> dict[str, Any]:
    from catalog.db import unit_of_work
    from catalog.models import Job
    from workers.wiring import context_for

    with unit_of_work(context_for(settings).engine) as session:
        rows = session.exec(select(Job).where(Job.lesson_id == lesson_id)).all()
        return {job.step: (job.state, job.attempts, job.progress) for job in rows}


def _kill_whole_worker(pid: int) -> int:
    """SIGKILL the worker, its pool processes and their ffmpeg, as an out-of-memory kill or power cut would."""
    parent = psutil.Process(pid)
    victims = [parent, *parent.children(recursive=True)]
    names = []
    for proc in victims:
        try:
            names.append(proc.name())
            proc.kill()
        except psutil.NoSuchProcess:  # a short-lived child (an ffprobe) ended meanwhile
            continue
    psutil.wait_procs(victims, timeout=10)
    return sum("ffmpeg" in name for name in names)


def test_worker_killed_mid_transcode_finishes_the_lesson_once(
    client: TestClient, stack_settings: Any, tmp_path: Path, long_clip: Path
) -> None:
    from tests.support.stacks import running_worker, start_worker, wait_for_heartbeat

    first = start_worker(stack_settings, log_path=tmp_path / "first.log")
    try:
        wait_for_heartbeat(stack_settings, first)
        lesson_id = upload(client, long_clip, title="断电也不怕")["id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = _jobs(stack_settings, lesson_id).get("renditions")
            if state and state[0] == "running" and state[2] > 0:
                break  # ffmpeg is running and has reported progress
            time.sleep(0.2)
        else:
            pytest.fail(f"renditions never started: {_jobs(stack_settings, lesson_id)}\n{first.log_tail()}")
        killed_ffmpeg = _kill_whole_worker(first.proc.pid)
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
    assert killed_ffmpeg >= 1, "the worker was not transcoding when it was killed"
    assert _jobs(stack_settings, lesson_id)["renditions"][0] == "running"  # nobody told the database
    assert client.get(f"/api/v1/lessons/{lesson_id}").json()["status"] == "processing"

    with running_worker(stack_settings, tmp_path / "second.log") as second:
        lesson = wait_finished(client, [lesson_id], second, timeout_s=180)[lesson_id]
        assert lesson["status"] == "ready", (lesson, second.log_tail())

    jobs = _jobs(stack_settings, lesson_id)
    assert jobs["renditions"][:2] == ("done", 2), jobs  # killed once, then completed once
    assert all(state == "done" for state, _, _ in jobs.values()), jobs
    # One set of assets, each published whole: no duplicates, no half-written or staging files.
    assert sorted((a["kind"], a["label"] or "") for a in lesson["assets"]) == [
        ("audio_edition", ""), ("hls", ""), ("original", ""), ("poster", ""), ("rendition", "360p"),
        ("rendition", "720p"),
    ]  # fmt: skip
    keys = stored_keys(stack_settings, f"lessons/{lesson_id}/")
    hls = [k for k in keys if k.startswith(f"lessons/{lesson_id}/hls-r1/")]
    assert [Path(k).name for k in keys if k not in hls] == ["360p.mp4", "720p.mp4", "audio.mp3", "poster.jpg"], keys
    assert {Path(k).name for k in hls} >= {"360p.m3u8", "720p.m3u8", "variants.json", "master.m3u8"}, hls
    assert not [k for k in stored_keys(stack_settings, "originals/") if k.startswith("(")]
    for rendition in assets_of(lesson, "rendition"):
        mp4 = fetch(client, rendition["url"], tmp_path / f"{rendition['label']}.mp4")
        assert abs(float(ffprobe_json(mp4)["format"]["duration"]) - lesson["duration_s"]) < 0.1
    # The killed worker's scratch folder was cleaned by its successor.
    assert scratch_leftovers(stack_settings) == []
