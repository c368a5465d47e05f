"""Captions in the media pipeline: the `transcribe` and `captions` steps.

    probe ──> transcribe (queue asr) ─┐  caption version 1 (auto) and its segments in the catalog; the lesson's
                                      │  detected language; subtitles-v1.vtt, subtitles-v1.srt, transcript-v1.json
    renditions ───────────────────────┴──> captions (queue media): the current version's subtitle files; each MP4
                                           rendition again with a mov_text track, language chi (<label>-cc<v>.mp4);
                                           the open-caption edition (open-captions-v<v>.mp4, from 720p or the
                                           largest rendition)

Keys carry the caption version (workers/caption_files.py): a correction (workers/caption_edits.py) makes version v+1 and runs `captions`
again, which writes new objects beside the old ones and then points the asset rows at them in one transaction, so
a viewer in the middle of a stream never sees its file change under it (the previously published objects stay in
storage). Corrections arriving while `captions` runs or waits coalesce (catalog/jobs.py `restart_jobs`): the run
in progress finishes and publishes its version, then one more run makes the latest; the versions in between keep
their text in the catalog but are never encoded, and a version older than the published one is never published.
The plain renditions stay under `<label>.mp4`, where the renditions step put them, and are what every version is
muxed and burned from.

An empty transcript (silence, noise, music) is a result, not an error: the version has no segments, the lesson
gets `transcript-v<v>.json` with an empty list, and no subtitle files, no subtitle track and no open-caption
edition (a player offering an empty Chinese track helps nobody).

Both steps are optional (StepSpec.optional): when one fails (no model, a broken font) the error stays on its job
and shows in the lesson's captions state, and the lesson still becomes ready and playable.

The catalog writes happen in a transaction that first renews the job's lease, so a step that lost its job to
another worker records nothing; both steps are idempotent (a redelivered transcribe finds version 1 and only
republishes its files).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

from sqlmodel import Session

from catalog import captions as catalog_captions
from catalog import jobs
from catalog import search as catalog_search
from catalog.assets import AssetFacts, list_assets, record_asset, remove_assets
from catalog.captions import SegmentFacts
from catalog.db import unit_of_work
from catalog.lessons import get_lesson
from catalog.models import AssetKind, CaptionSource, CaptionVersion, Language
from catalog.packs import mark_packs_stale
from transcode.asr import Transcript, transcribe_file
from transcode.captions import Cue
from transcode.open_captions import burn_captions
from transcode.probe import ProbeResult
from transcode.subtitle_mux import mux_subtitles
from workers.asr_models import asr_config, model_label
from workers.caption_files import (
    CaptionSnapshot,
    cues_of,
    muxed_rendition_key,
    open_captions_key,
    plain_rendition_key,
    publish_text_files,
    text_file_key,
    write_text_files,
)
from workers.settings import Settings
from workers.step_io import LeaseLost, LessonInput, ProgressReporter, StepIO, StepOutcome
from workers.wiring import Context

log = logging.getLogger(__name__)

UNDETERMINED_LANGUAGE = "und"  # ISO 639-2: nothing was said and the lesson gave no language
_HASH_CHUNK = 1 << 20


def wants_captions(settings: Settings, probe: ProbeResult) -> bool:
    """Whether probe adds the caption steps: every lesson with sound gets a transcript when ASR is on."""
    return settings.asr_enabled and probe.audio is not None


# --- what a step reads before it works -------------------------------------------------------------------------


@dataclass(frozen=True)
class RenditionRef:
    label: str
    facts: AssetFacts


@dataclass(frozen=True)
class LessonCaptionState:
    language_hint: str | None
    duration_s: float | None
    caption: CaptionSnapshot | None
    renditions: tuple[RenditionRef, ...]
    recorded: dict[tuple[str, str], str]  # (kind, label) -> key of the asset as recorded now


def language_hint(lesson_language: str) -> str | None:
    """Lesson.language as a hint for the recogniser: `other` (a dialect, another language) means detect."""
    return lesson_language if lesson_language in (Language.MANDARIN, Language.CANTONESE) else None


def _snapshot(session: Session, version: CaptionVersion) -> CaptionSnapshot:
    assert version.id is not None
    return CaptionSnapshot(
        lesson_id=version.lesson_id, version=version.version, source=version.source, language=version.language,
        engine=version.engine, model=version.model, detected_language=version.detected_language,
        language_probability=version.language_probability,
        review_reasons=tuple(catalog_captions.review_reasons(version)),
        segments=tuple(catalog_captions.segment_facts(catalog_captions.list_segments(session, version.id))),
    )  # fmt: skip


def read_state(ctx: Context, lesson_id: str, *, automatic: bool = False) -> LessonCaptionState | None:
    """The lesson's caption version (the automatic one, or the current one) and its assets as recorded now."""
    with unit_of_work(ctx.engine) as session:
        lesson = get_lesson(session, lesson_id)
        if lesson is None:
            return None
        find = catalog_captions.automatic_version if automatic else catalog_captions.current_version
        version = find(session, lesson_id)
        assets = list_assets(session, lesson_id)
        return LessonCaptionState(
            language_hint=language_hint(lesson.language),
            duration_s=lesson.duration_s,
            caption=_snapshot(session, version) if version is not None else None,
            renditions=tuple(
                RenditionRef(a.label, AssetFacts(key=a.key, mime_type=a.mime_type, size_bytes=a.size_bytes,
                                                 sha256=a.sha256, duration_s=a.duration_s, width=a.width,
                                                 height=a.height, bit_rate=a.bit_rate))
                for a in assets if a.kind == AssetKind.RENDITION
            ),
            recorded={(a.kind, a.label): a.key for a in assets},
        )


# --- the lease, kept and checked --------------------------------------------------------------------------------


class LeaseKeeper:
    """Renews the job's lease from a thread while a long call gives no progress (loading a model, recognising
    a ten-minute window); the step checks `lost` afterwards."""

    def __init__(self, progress: ProgressReporter, *, interval_s: float) -> None:
        self._progress = progress
        self._interval_s = interval_s
        self._fraction = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="weike-lease")
        self.lost = False

    def report(self, fraction: float) -> None:
        self._fraction = fraction
        self._progress(fraction)

    def scaled(self, start: float, span: float) -> Callable[[float], None]:
        return lambda f: self.report(start + span * max(0.0, min(f, 1.0)))

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._progress(self._fraction)
            except LeaseLost:
                self.lost = True
                return
            except Exception:  # the database may be briefly busy: the next beat tries again
                log.warning("could not renew the lease of %s/%s", self._progress.lesson_id, self._progress.step,
                            exc_info=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        if exc is None and self.lost:
            raise LeaseLost(f"{self._progress.lesson_id}/{self._progress.step}")


@contextmanager
def holding_lease(progress: ProgressReporter) -> Iterator[Session]:
    """A transaction that first renews the job's lease: if another worker has the job, nothing is written."""
    ctx = progress.ctx
    with unit_of_work(ctx.engine) as session:
        if not jobs.renew(session, lesson_id=progress.lesson_id, step=progress.step, owner=progress.owner,
                          lease_s=ctx.settings.job_lease_s, progress=0.99):
            raise LeaseLost(f"{progress.lesson_id}/{progress.step}")
        yield session


# --- transcribe --------------------------------------------------------------------------------------------------


def segments_of(transcript: Transcript) -> tuple[SegmentFacts, ...]:
    """Rounded as the catalog stores them, so files made now and files made later from the catalog are equal."""
    return tuple(
        SegmentFacts(start_s=round(s.start_s, 3), end_s=round(s.end_s, 3), text=s.text,
                     avg_logprob=round(s.avg_logprob, 4), no_speech_prob=round(s.no_speech_prob, 4),
                     compression_ratio=round(s.compression_ratio, 3), low_confidence=s.low_confidence)
        for s in transcript.segments
    )  # fmt: skip


def recognise(ctx: Context, lesson_id: str, state: LessonCaptionState, io: StepIO) -> CaptionSnapshot:
    s = ctx.settings
    limits = s.media_limits
    with LeaseKeeper(io.progress, interval_s=max(2.5, s.job_lease_s / 4)) as keeper:
        config = asr_config(s)  # prepares Whisper base on first use
        keeper.report(0.03)
        transcript = transcribe_file(
            io.src, config, language_hint=state.language_hint, work_dir=io.tmp,
            decode_timeout_s=limits.encode_timeout_s(state.duration_s or limits.max_duration_s),
            max_duration_s=limits.max_duration_s, on_progress=keeper.scaled(0.05, 0.9), ffmpeg_bin=s.ffmpeg_bin,
        )  # fmt: skip
    log.info("%s: %d segments, language %s (detected %s, p=%s), review: %s", lesson_id, len(transcript.segments),
             transcript.language, transcript.detected_language, transcript.language_probability,
             ",".join(transcript.review_reasons) or "-")
    return CaptionSnapshot(
        lesson_id=lesson_id, version=1, source=CaptionSource.AUTO,
        language=transcript.language or state.language_hint or UNDETERMINED_LANGUAGE,
        engine=transcript.engine, model=model_label(s), detected_language=transcript.detected_language,
        language_probability=(round(transcript.language_probability, 4)
                              if transcript.language_probability is not None else None),
        review_reasons=transcript.review_reasons, segments=segments_of(transcript),
    )  # fmt: skip


def transcribe_step(ctx: Context, lesson: LessonInput, io: StepIO) -> StepOutcome:
    state = read_state(ctx, lesson.lesson_id, automatic=True)
    if state is None:
        return StepOutcome()
    caption = state.caption or recognise(ctx, lesson.lesson_id, state, io)
    files = write_text_files(caption, cues_of(caption), io.tmp)
    published = publish_text_files(ctx, files, state.recorded)
    with holding_lease(io.progress) as session:
        version = catalog_captions.automatic_version(session, lesson.lesson_id)
        if version is None:
            version = catalog_captions.create_version(
                session, lesson.lesson_id, source=CaptionSource.AUTO, segments=caption.segments,
                language=caption.language, engine=caption.engine, model=caption.model,
                detected_language=caption.detected_language, language_probability=caption.language_probability,
                review_reasons=caption.review_reasons,
            )  # fmt: skip
        if version.version != caption.version:
            raise RuntimeError(f"automatic captions of {lesson.lesson_id} became version {version.version}")
        for kind, label, facts in published:
            record_asset(session, lesson.lesson_id, kind, facts, label=label)
        row = get_lesson(session, lesson.lesson_id)
        if row is not None:
            row.detected_language = caption.detected_language
            row.language_probability = caption.language_probability
            if row.caption_version is None:
                row.caption_version = caption.version
            session.add(row)
            catalog_search.reindex_lesson(session, row)  # the published transcript is searchable (once published)
    return StepOutcome()


# --- captions: subtitle files, soft subtitles, open captions ----------------------------------------------------


def open_caption_source(renditions: Sequence[RenditionRef]) -> RenditionRef:
    """The 720p rendition, else the largest."""
    def short_side(r: RenditionRef) -> int:
        return min(r.facts.width or 0, r.facts.height or 0)

    exact = [r for r in renditions if short_side(r) == 720]
    return exact[0] if exact else max(renditions, key=lambda r: (r.facts.width or 0) * (r.facts.height or 0))


def _stored_facts(ctx: Context, key: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with ctx.storage.open(key) as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _muxed_renditions(ctx: Context, state: LessonCaptionState, caption: CaptionSnapshot, srt: Path,
                      io: StepIO) -> list[tuple[AssetKind, str, AssetFacts]]:
    s = ctx.settings
    out = []
    for i, r in enumerate(state.renditions, start=1):
        key = muxed_rendition_key(caption.lesson_id, r.label, caption.version)
        if r.facts.key != key:
            with ctx.storage.local_copy(plain_rendition_key(caption.lesson_id, r.label)) as plain:
                muxed = mux_subtitles(plain, srt, io.tmp / f"{r.label}-cc{caption.version}.mp4",
                                      limits=s.media_limits, ffmpeg_bin=s.ffmpeg_bin, ffprobe_bin=s.ffprobe_bin)
            stored = ctx.storage.put(key, muxed.path, content_type="video/mp4")
            muxed.path.unlink(missing_ok=True)
            out.append((AssetKind.RENDITION, r.label,
                        replace(r.facts, key=key, size_bytes=stored.size_bytes, sha256=stored.sha256)))
        io.progress(0.2 * i / len(state.renditions))
    return out


def _open_captions(ctx: Context, state: LessonCaptionState, caption: CaptionSnapshot, cues: Sequence[Cue],
                   io: StepIO) -> list[tuple[AssetKind, str, AssetFacts]]:
    s = ctx.settings
    key = open_captions_key(caption.lesson_id, caption.version)
    if state.recorded.get((AssetKind.OPEN_CAPTIONS, "")) == key:
        return []
    source = open_caption_source(state.renditions)
    with ctx.storage.local_copy(plain_rendition_key(caption.lesson_id, source.label)) as plain:
        burned = burn_captions(plain, cues, io.tmp / f"open-captions-v{caption.version}.mp4",
                               limits=s.media_limits, preset=s.x264_preset,
                               large_rung_params=s.x264_large_rung_params,
                               on_progress=lambda f: io.progress(0.2 + 0.79 * f), ffmpeg_bin=s.ffmpeg_bin,
                               ffprobe_bin=s.ffprobe_bin)
    stored = ctx.storage.put(key, burned.path, content_type="video/mp4")
    return [(AssetKind.OPEN_CAPTIONS, "", AssetFacts(
        key=key, mime_type="video/mp4", size_bytes=stored.size_bytes, sha256=stored.sha256,
        duration_s=burned.duration_s, width=burned.width, height=burned.height, bit_rate=burned.bit_rate))]


def _plain_renditions(ctx: Context, state: LessonCaptionState, lesson_id: str,
                      ) -> list[tuple[AssetKind, str, AssetFacts]]:
    """Renditions pointed back at their files without subtitles (a version with nothing to show)."""
    out = []
    for r in state.renditions:
        key = plain_rendition_key(lesson_id, r.label)
        if r.facts.key != key:
            size, sha = _stored_facts(ctx, key)
            out.append((AssetKind.RENDITION, r.label, replace(r.facts, key=key, size_bytes=size, sha256=sha)))
    return out


def captions_step(ctx: Context, lesson: LessonInput, io: StepIO) -> StepOutcome:
    state = read_state(ctx, lesson.lesson_id)
    if state is None or state.caption is None:
        return StepOutcome()  # nothing was recognised (speech recognition was skipped): nothing to caption
    caption = state.caption
    cues = cues_of(caption)
    files = write_text_files(caption, cues, io.tmp)
    assets = publish_text_files(ctx, files, state.recorded)
    removed: list[AssetKind] = []
    if cues and state.renditions:
        srt = next(f.path for f in files if f.kind == AssetKind.SUBTITLES_SRT)
        assets += _muxed_renditions(ctx, state, caption, srt, io)
        assets += _open_captions(ctx, state, caption, cues, io)
    elif not cues:
        assets += _plain_renditions(ctx, state, lesson.lesson_id)
        removed = [AssetKind.SUBTITLES_VTT, AssetKind.SUBTITLES_SRT, AssetKind.OPEN_CAPTIONS]
    with holding_lease(io.progress) as session:
        row = get_lesson(session, lesson.lesson_id)
        previous = row.caption_version if row is not None else None
        if previous is not None and previous > caption.version:  # never publish an older version over a newer
            log.warning("%s: captions v%d built, v%d already published; not recorded", lesson.lesson_id,
                        caption.version, previous)
            return StepOutcome()
        for kind, label, facts in assets:
            record_asset(session, lesson.lesson_id, kind, facts, label=label)
        for kind in removed:
            remove_assets(session, lesson.lesson_id, kind)
        if row is not None:
            row.caption_version = caption.version
            session.add(row)
            catalog_search.reindex_lesson(session, row)  # what the lesson says changed: so does what finds it
            if previous != caption.version:
                mark_packs_stale(session, lesson.lesson_id)  # packs carry the transcript as lyrics
    if previous != caption.version:  # a run redoing the published version (a follow-up, a crash) removes nothing
        remove_superseded_files(ctx, lesson.lesson_id, caption.version, [r.label for r in state.renditions],
                                previous=previous)
    return StepOutcome()


def remove_superseded_files(ctx: Context, lesson_id: str, version: int, labels: Sequence[str], *,
                            previous: int | None) -> None:
    """Delete the files of caption versions older than `version`, except those of the `previous` published one.

    Every edit makes a full copy of each rendition (with its subtitle track) and a new open-caption edition, so
    keeping them all would grow a lesson's storage with every correction. The previously published version's
    files stay: someone may be streaming them right now. Versions never published (skipped while edits came
    in quickly, or made by a run that lost its job) have no files, or files nobody streams. The catalog keeps
    every version's text; only files go.
    """
    for old in range(1, version):
        if old == previous:
            continue
        stale = [text_file_key(lesson_id, kind, old) for kind in (AssetKind.SUBTITLES_VTT, AssetKind.SUBTITLES_SRT,
                                                                    AssetKind.TRANSCRIPT)]
        stale += [muxed_rendition_key(lesson_id, label, old) for label in labels]
        stale.append(open_captions_key(lesson_id, old))
        for key in stale:
            ctx.storage.delete(key)  # absent (already removed, or never made) is fine


STEP_FUNCTIONS = {"transcribe": transcribe_step, "captions": captions_step}
