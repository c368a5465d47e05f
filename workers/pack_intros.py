"""Spoken intros for a pack's tracks ("第三课。秸秆还田的好处。主讲人：王建国，东风村党支部。"), made once and kept.

Three layers of caching, all in the store so every worker and every pack shares them:
- the encoded intro (ingest/keys.py `spoken_intro`), by what it says, the voice and the edition's MP3 parameters:
  a rebuild or another pack of the same lessons in the same places only joins it;
- the voice's clips (`speech_clip`): "第三课。" and each lesson's "标题。主讲人：…" said once, whichever pack needs
  them; a lesson moved to another track only needs its number clip, said once per number;
- the voice itself, loaded once per process (transcode/tts.py keeps the ONNX session).
What is missing is said two at a time: ONNX Runtime lets go of the GIL, so two threads with one inference thread
each keep both cores busy.
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ingest import keys
from ingest.errors import ObjectMissing
from ingest.storage import Storage
from transcode.tts import Speech, Voice

if TYPE_CHECKING:
    from transcode.intros import IntroParts
    from transcode.mp3_frames import Mp3Params
    from workers.wiring import Context

log = logging.getLogger(__name__)

SYNTHESIS_THREADS = 2


class StoredClips(MutableMapping[str, Speech]):
    """Speech clips kept in the store as WAV, by `transcode.intros.speech_cache_key` (only get and set are used)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def __getitem__(self, key: str) -> Speech:
        from transcode.tts import speech_from_wav

        try:
            with self.storage.open(keys.speech_clip(key)) as f:
                return speech_from_wav(f.read())
        except ObjectMissing as exc:
            raise KeyError(key) from exc

    def __setitem__(self, key: str, speech: Speech) -> None:
        from transcode.tts import wav_bytes

        self.storage.put_if_absent(keys.speech_clip(key), io.BytesIO(wav_bytes(speech)), content_type="audio/wav")

    def __delitem__(self, key: str) -> None:
        self.storage.delete(keys.speech_clip(key))

    def __iter__(self) -> Iterator[str]:
        return iter(())  # not listed: the store is looked up by key only

    def __len__(self) -> int:
        return 0


@functools.lru_cache(maxsize=2)
def _voice(models_dir: Path, name: str) -> Voice:
    from transcode.tts import load_voice

    return load_voice(models_dir, name, threads=1)


def voice_for(ctx: Context) -> Voice:
    """The pack voice (Kokoro when installed: `make install` installs it; else espeak-ng), once per process."""
    from workers.asr_models import models_dir

    return _voice(models_dir(ctx.settings), ctx.settings.pack_voice)


@dataclass(frozen=True)
class PlannedIntro:
    """An intro a track needs: where it is (or will be) stored, what it says, at which MP3 parameters."""

    key: str
    parts: IntroParts
    params: Mp3Params


def plan_intro(ctx: Context, *, number: int, title: str, speaker: str | None, branch: str | None,
               params: Mp3Params) -> PlannedIntro:
    from transcode.intros import intro_cache_key, intro_parts

    parts = intro_parts(number, title, speaker, branch)
    key = keys.spoken_intro(intro_cache_key(parts.text, voice_for(ctx).name, params))
    return PlannedIntro(key=key, parts=parts, params=params)


def make_intros(ctx: Context, tmp: Path, planned: Sequence[PlannedIntro],
                on_made: Callable[[int], None] | None = None) -> int:
    """Make and store the planned intros that are not stored yet, two at a time; returns how many were made.
    `on_made(n)` is called after each (from the calling thread)."""
    from transcode.intros import IntroSynthesizer, encode_intro

    missing = list({p.key: p for p in planned if not ctx.storage.exists(p.key)}.values())
    if not missing:
        return 0
    clips = StoredClips(ctx.storage)
    voice = voice_for(ctx)

    def make(item: tuple[int, PlannedIntro]) -> None:
        n, intro = item
        speech = IntroSynthesizer(voice, clips=clips).speech(intro.parts)
        out = encode_intro(speech, intro.params, tmp / f"intro-{n}.mp3", work_dir=tmp,
                           ffmpeg_bin=ctx.settings.ffmpeg_bin)
        ctx.storage.put_if_absent(intro.key, out.path, content_type="audio/mpeg")

    with ThreadPoolExecutor(max_workers=SYNTHESIS_THREADS, thread_name_prefix="weike-intro") as pool:
        for made, _ in enumerate(pool.map(make, enumerate(missing)), start=1):
            if on_made is not None:
                on_made(made)
    return len(missing)


WARM_NUMBERS = 60  # "第一课。" … "第六十课。": every pack's first tracks
WARM_DAYS = 120  # lessons published this recently get their clip before any pack asks (the quarterly pack will)
WARM_BATCH = 8  # clips said per task run, so one run stays short
CLIP_TASK = "media.intro_clips"


def clips_to_warm(ctx: Context, *, limit: int = WARM_BATCH) -> list[str]:
    """Texts whose clips the next packs will need and the store lacks: track numbers first, then the lesson parts
    of recently published lessons (as their intros would say them, at any track)."""
    from datetime import timedelta

    from sqlmodel import col, select

    from catalog.db import unit_of_work
    from catalog.models import Lesson, ReviewState, utcnow
    from catalog.packs import credits
    from transcode.intros import intro_parts, speech_cache_key

    name = voice_for(ctx).name
    wanted: list[str] = []

    def want(text: str) -> bool:
        if text and not ctx.storage.exists(keys.speech_clip(speech_cache_key(text, name))):
            wanted.append(text)
        return len(wanted) >= limit

    for n in range(1, WARM_NUMBERS + 1):
        if want(intro_parts(n, "").number):
            return wanted
    since = utcnow() - timedelta(days=WARM_DAYS)
    with unit_of_work(ctx.engine) as session:
        lessons = session.exec(select(Lesson).where(col(Lesson.review_state) == ReviewState.PUBLISHED,
                                                    col(Lesson.published_at) >= since)
                               .order_by(col(Lesson.published_at).desc()).limit(200)).all()
        said_by = credits(session, lessons)
        for lesson in lessons:
            credit = said_by[lesson.id]
            if want(intro_parts(1, lesson.title, credit.speaker, credit.branch).lesson):
                break
    return wanted


def warm_clips(ctx: Context, texts: Sequence[str]) -> int:
    """Say and store the clips of `texts` (the `media.intro_clips` task's body); returns how many were said."""
    from transcode.intros import IntroSynthesizer

    synthesizer = IntroSynthesizer(voice_for(ctx), clips=StoredClips(ctx.storage))
    with ThreadPoolExecutor(max_workers=SYNTHESIS_THREADS, thread_name_prefix="weike-clip") as pool:
        return sum(1 for _ in pool.map(synthesizer.clip, texts))
