"""What a caption version turns into: its files (WebVTT, SRT, transcript JSON) and where every derived file goes.

Keys carry the caption version, so a new version never overwrites a file someone may be streaming:

    lessons/<id>/subtitles-v<v>.vtt   subtitles-v<v>.srt   transcript-v<v>.json
    lessons/<id>/<label>-cc<v>.mp4    (a rendition with the version's mov_text track)
    lessons/<id>/open-captions-v<v>.mp4
    lessons/<id>/<label>.mp4          (the rendition without subtitles, as the renditions step stored it)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from catalog.assets import AssetFacts
from catalog.captions import SegmentFacts
from catalog.models import AssetKind
from ingest import keys
from transcode.captions import Cue, EditedSegment, build_cues, write_srt, write_webvtt
from workers.wiring import Context

_TEXT_FILES = {
    AssetKind.TRANSCRIPT: ("transcript", "json", "application/json"),
    AssetKind.SUBTITLES_VTT: ("subtitles", "vtt", "text/vtt"),
    AssetKind.SUBTITLES_SRT: ("subtitles", "srt", "application/x-subrip"),
}


# --- keys ------------------------------------------------------------------------------------------------------


def text_file_key(lesson_id: str, kind: AssetKind, version: int) -> str:
    stem, ext, _mime = _TEXT_FILES[kind]
    return keys.lesson_asset(lesson_id, f"{stem}-v{version}.{ext}")


def plain_rendition_key(lesson_id: str, label: str) -> str:
    """Where the renditions step stored the rendition without subtitles (workers/steps.py: `<label>.mp4`)."""
    return keys.lesson_asset(lesson_id, f"{label}.mp4")


def muxed_rendition_key(lesson_id: str, label: str, version: int) -> str:
    return keys.lesson_asset(lesson_id, f"{label}-cc{version}.mp4")


def open_captions_key(lesson_id: str, version: int) -> str:
    return keys.lesson_asset(lesson_id, f"open-captions-v{version}.mp4")


@dataclass(frozen=True)
class CaptionSnapshot:
    lesson_id: str
    version: int
    source: str
    language: str
    engine: str | None
    model: str | None
    detected_language: str | None
    language_probability: float | None
    review_reasons: tuple[str, ...]
    segments: tuple[SegmentFacts, ...]


def cues_of(caption: CaptionSnapshot) -> list[Cue]:
    return build_cues(EditedSegment(s.start_s, s.end_s, s.text) for s in caption.segments)


def transcript_document(caption: CaptionSnapshot) -> bytes:
    """The `transcript` asset: the version's segments with their times and confidence, as JSON."""
    data = {
        "lesson_id": caption.lesson_id,
        "version": caption.version,
        "source": caption.source,
        "language": caption.language,
        "detected_language": caption.detected_language,
        "language_probability": caption.language_probability,
        "engine": caption.engine,
        "model": caption.model,
        "review_reasons": list(caption.review_reasons),
        "segments": [
            {"start_s": s.start_s, "end_s": s.end_s, "text": s.text, "confidence": s.confidence,
             "low_confidence": s.low_confidence}
            for s in caption.segments
        ],
    }  # fmt: skip
    return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")


@dataclass(frozen=True)
class TextFile:
    kind: AssetKind
    key: str
    path: Path
    mime_type: str


def write_text_files(caption: CaptionSnapshot, cues: Sequence[Cue], tmp: Path) -> list[TextFile]:
    """transcript JSON always; WebVTT and SRT when there is something to show."""
    contents: dict[AssetKind, bytes] = {AssetKind.TRANSCRIPT: transcript_document(caption)}
    if cues:
        contents[AssetKind.SUBTITLES_VTT] = write_webvtt(cues).encode("utf-8")
        contents[AssetKind.SUBTITLES_SRT] = write_srt(cues).encode("utf-8")
    files = []
    for kind, data in contents.items():
        stem, ext, mime = _TEXT_FILES[kind]
        path = tmp / f"{stem}-v{caption.version}.{ext}"
        path.write_bytes(data)
        files.append(TextFile(kind, text_file_key(caption.lesson_id, kind, caption.version), path, mime))
    return files


def publish_text_files(ctx: Context, files: Sequence[TextFile], recorded: dict[tuple[str, str], str],
                       ) -> list[tuple[AssetKind, str, AssetFacts]]:
    """Store the files not yet recorded under their versioned keys; returns the assets to record."""
    out = []
    for f in files:
        if recorded.get((f.kind, "")) == f.key:
            continue
        stored = ctx.storage.put(f.key, f.path, content_type=f.mime_type)
        out.append((f.kind, "", AssetFacts(key=stored.key, mime_type=f.mime_type, size_bytes=stored.size_bytes,
                                           sha256=stored.sha256)))
    return out
