"""Published lessons with real audio editions, made in the catalog and the store, for the audio-pack tests."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from catalog import captions
from catalog.assets import AssetFacts, record_asset
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, create_lesson
from catalog.models import AssetKind, CaptionSource, LessonStatus, utcnow
from catalog.organisations import branch_for_name
from catalog.search import reindex_lesson
from ingest import keys
from workers.wiring import context_for


@pytest.fixture(scope="session")
def audio_edition_mp3(media_dir: Path, mandarin_speech_wav: Path) -> Path:
    """A real audio edition (the pipeline's own encoder) of a few seconds of Mandarin speech."""
    from transcode.audio_edition import encode_audio_edition
    from transcode.limits import MediaLimits
    from transcode.probe import probe_media

    out = media_dir / "edition.mp3"
    if not out.exists():
        limits = MediaLimits()
        encode_audio_edition(mandarin_speech_wav, probe_media(mandarin_speech_wav, limits=limits), out,
                             tags={"title": "原来的标题"}, limits=limits)
    return out


def published_audio_lesson(settings: Any, title: str, edition: Path, *, branch: str = "东风村党支部",
                           speaker: str | None = "李书记", series_id: int | None = None, episode: int | None = None,
                           featured: bool = False, published_at: datetime | None = None,
                           said: tuple[str, ...] = (), state: str = "published", duration_s: float = 6.0) -> str:
    """A processed lesson with its audio edition stored and recorded, in review state `state` (published by
    default, `published_at` an hour ago unless given), its captions saying `said`, indexed."""
    ctx = context_for(settings)
    sha = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    with unit_of_work(ctx.engine) as s:
        lesson = create_lesson(s, fields=LessonFields(title=title, category="skills", speaker=speaker),
                               original_key=keys.original(sha), original_sha256=sha, size_bytes=10,
                               original_filename="录音.m4a", branch_id=branch_for_name(s, branch).id)
        lesson.status, lesson.review_state, lesson.featured = LessonStatus.READY, state, featured
        lesson.media_kind, lesson.duration_s = "audio", duration_s
        lesson.series_id, lesson.episode = series_id, episode
        lesson.published_at = (published_at or utcnow() - timedelta(hours=1)) if state == "published" else None
        if said:
            captions.create_version(s, lesson.id, source=CaptionSource.AUTO, language="zh", segments=[
                captions.SegmentFacts(2.0 * i, 2.0 * i + 2.0, text) for i, text in enumerate(said)])
            lesson.caption_version = 1
        s.add(lesson)
        s.flush()
        stored = ctx.storage.put(keys.lesson_asset(lesson.id, "audio.mp3"), edition, content_type="audio/mpeg")
        record_asset(s, lesson.id, AssetKind.AUDIO_EDITION, AssetFacts(
            key=stored.key, mime_type="audio/mpeg", size_bytes=stored.size_bytes, sha256=stored.sha256,
            duration_s=duration_s))
        reindex_lesson(s, lesson)
        return lesson.id
