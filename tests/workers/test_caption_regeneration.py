"""The captions step remakes every derived file from the current version, in-process, without Whisper.

The automatic version is written straight into the catalog, so these tests exercise what follows recognition:
versioned keys, rendition rows moving to muxed files, and an edit that removes every caption.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from catalog import captions, jobs
from catalog.assets import list_assets
from catalog.captions import SegmentFacts
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, get_lesson
from catalog.models import CaptionSource, JobState
from tests.support.media import make_plain_clip, streams_of
from tests.support.stacks import build_embedded
from workers.asr_steps import STEP_FUNCTIONS as CAPTION_FUNCTIONS
from workers.caption_edits import save_edited_captions
from workers.intake import admit_stream
from workers.pipeline import execute_step
from workers.steps import STEP_FUNCTIONS
from workers.wiring import Context, context_for


def _assets(ctx: Context, lesson_id: str) -> dict[tuple[str, str], tuple[str, str]]:
    with unit_of_work(ctx.engine) as s:
        return {(a.kind, a.label): (a.key, a.sha256) for a in list_assets(s, lesson_id)}


def test_versions_get_their_own_files_and_an_emptied_version_takes_the_subtitles_away(tmp_path: Path) -> None:
    settings = build_embedded(tmp_path / "var", asr_enabled=True, x264_preset="ultrafast")
    ctx = context_for(settings)
    clip = make_plain_clip(tmp_path / "clip.mp4", duration_s=4.0, faststart=True)
    with clip.open("rb") as fh:
        lesson_id = admit_stream(ctx, fh, filename="clip.mp4", fields=LessonFields(title="数学课")).lesson.id
    for step in ("probe", "renditions"):
        execute_step(ctx, lesson_id, step, STEP_FUNCTIONS[step])
    plain = _assets(ctx, lesson_id)[("rendition", "240p")]
    with unit_of_work(ctx.engine) as s:  # what transcribe would have recorded
        captions.create_version(s, lesson_id, source=CaptionSource.AUTO, language="zh", segments=[
            SegmentFacts(0.2, 1.8, "大家好，欢迎来到今天的数学课。", avg_logprob=-0.3),
            SegmentFacts(2.0, 3.8, "长方形有四条边。", avg_logprob=-0.4)])
        for job in jobs.list_jobs(s, lesson_id):
            if job.step == "transcribe":
                job.state = JobState.DONE
                s.add(job)

    execute_step(ctx, lesson_id, "captions", CAPTION_FUNCTIONS["captions"])
    first = _assets(ctx, lesson_id)
    assert first[("rendition", "240p")][0].endswith("/240p-cc1.mp4")
    assert first[("open_captions", "")][0].endswith("/open-captions-v1.mp4")
    assert first[("subtitles_vtt", "")][0].endswith("/subtitles-v1.vtt")
    muxed = settings.data_dir / "store" / first[("rendition", "240p")][0]
    assert [(x["codec_name"], x["tags"]["language"]) for x in streams_of(muxed, "subtitle")] == [("mov_text", "chi")]

    save_edited_captions(ctx, lesson_id, segments=[], author="王老师", note="没有讲话")
    execute_step(ctx, lesson_id, "captions", CAPTION_FUNCTIONS["captions"])
    emptied = _assets(ctx, lesson_id)
    assert emptied[("rendition", "240p")] == plain  # back to the file without subtitles, same bytes
    assert not {("subtitles_vtt", ""), ("subtitles_srt", ""), ("open_captions", "")} & emptied.keys()
    assert emptied[("transcript", "")][0].endswith("/transcript-v2.json")
    stored = settings.data_dir / "store" / plain[0]
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == plain[1]
    assert (settings.data_dir / "store" / first[("open_captions", "")][0]).is_file()  # the previous files stay
    with unit_of_work(ctx.engine) as s:
        lesson = get_lesson(s, lesson_id)
        assert lesson is not None and lesson.caption_version == 2
    # A third version: the previous one's files stay for whoever is streaming them, the first one's go.
    save_edited_captions(ctx, lesson_id, author="王老师", segments=[{"start_s": 0.2, "end_s": 1.8, "text": "大家好。"}])
    execute_step(ctx, lesson_id, "captions", CAPTION_FUNCTIONS["captions"])
    third = _assets(ctx, lesson_id)
    assert third[("rendition", "240p")][0].endswith("/240p-cc3.mp4")
    store = settings.data_dir / "store"
    assert (store / emptied[("transcript", "")][0]).is_file()
    for kind in (("rendition", "240p"), ("open_captions", ""), ("subtitles_vtt", ""), ("transcript", "")):
        assert not (store / first[kind][0]).exists(), kind
    assert (store / plain[0]).is_file()  # the plain rendition is every version's source
    with unit_of_work(ctx.engine) as s:
        assert len(captions.list_versions(s, lesson_id)) == 3  # the text of every version is kept
