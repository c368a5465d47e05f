"""Storage keys. They are generated here, never taken from an uploaded file name."""

from __future__ import annotations

import re

# Segments: lower-case letters, digits, '.', '_', '-'; never starting with '.' or '-' (so no '..', no hidden
# files, nothing a command line could read as an option).
_SEGMENT = r"[a-z0-9_][a-z0-9._-]*"
_KEY = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_LESSON_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_ASSET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}\.[a-z0-9]{1,8}")
MAX_KEY_LENGTH = 512


def validate_key(key: str) -> str:
    """Return `key` unchanged, or raise ValueError when it is not a safe relative storage key."""
    if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise ValueError(f"invalid storage key: {key!r}")
    return key


def original(sha256: str) -> str:
    """The content-addressed key of an original: originals/ab/cd/<sha256>."""
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a lower-case hex SHA-256: {sha256!r}")
    return f"originals/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def lesson_asset(lesson_id: str, name: str) -> str:
    """The key of a derived file of a lesson, e.g. lessons/<id>/720p.mp4, poster.jpg, audio.mp3."""
    if not _LESSON_ID.fullmatch(lesson_id):
        raise ValueError(f"invalid lesson id for a storage key: {lesson_id!r}")
    if not _ASSET_NAME.fullmatch(name):
        raise ValueError(f"invalid asset name for a storage key: {name!r}")
    return f"lessons/{lesson_id}/{name}"


def upload_staging(upload_id: str) -> str:
    """Where a resumable upload's bytes gather until they are complete: uploads/<id>."""
    if not _LESSON_ID.fullmatch(upload_id):
        raise ValueError(f"invalid upload id for a storage key: {upload_id!r}")
    return f"uploads/{upload_id}"


def archived_asset(lesson_id: str, revision: int, name: str) -> str:
    """Where a derived file of an earlier revision is kept once the branch uploads a new one:
    lessons/<id>/r<revision>/<name>."""
    if revision < 1:
        raise ValueError(f"invalid revision {revision}")
    base = lesson_asset(lesson_id, name)
    return f"lessons/{lesson_id}/r{revision}/{base.rsplit('/', 1)[1]}"


def speaker_photo(speaker_id: int, sha256: str) -> str:
    """A speaker's re-encoded photo: speakers/<id>/photo-<first 16 hex of its SHA-256>.jpg (a new photo, a new key,
    so a long-cached old one is never served in its place)."""
    if speaker_id < 1:
        raise ValueError(f"invalid speaker id {speaker_id}")
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a lower-case hex SHA-256: {sha256!r}")
    return f"speakers/{speaker_id}/photo-{sha256[:16]}.jpg"


_PRESENTATION = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def presentation_file(lesson_id: str, presentation: str, name: str) -> str:
    """A file of a multi-file presentation (an HLS playlist, segment or subtitle file), every file of one presentation
    under one prefix: lessons/<id>/<presentation>/<name>, e.g. lessons/<id>/hls-r1/720p-00003.m4s."""
    if not _PRESENTATION.fullmatch(presentation):
        raise ValueError(f"invalid presentation folder for a storage key: {presentation!r}")
    return f"{lesson_asset(lesson_id, name).rsplit('/', 1)[0]}/{presentation}/{name}"


def sibling(key: str, name: str) -> str:
    """The key of `name` beside `key` (another file of the same presentation); ValueError for an unsafe name."""
    validate_key(key)
    if "/" not in key or not _ASSET_NAME.fullmatch(name):
        raise ValueError(f"invalid sibling {name!r} of {key!r}")
    return f"{key.rsplit('/', 1)[0]}/{name}"


def audio_pack(pack_id: int, version: int) -> str:
    """A built audio pack: packs/<id>/v<version>.zip (a new version, a new key: an earlier one stays downloadable)."""
    if pack_id < 1 or version < 1:
        raise ValueError(f"invalid pack {pack_id} version {version}")
    return f"packs/{pack_id}/v{version}.zip"


_INTRO = re.compile(r"[a-f0-9]{16,64}")


def spoken_intro(cache_key: str) -> str:
    """An encoded spoken intro, by the hash of what it says and how: intros/<hash>.mp3 (shared by every pack)."""
    if not _INTRO.fullmatch(cache_key):
        raise ValueError(f"invalid intro cache key: {cache_key!r}")
    return f"intros/{cache_key}.mp3"


def speech_clip(cache_key: str) -> str:
    """A voice's clip of a lesson's or a number's words (WAV), by the hash of what and who: intros/clips/<hash>.wav."""
    if not _INTRO.fullmatch(cache_key):
        raise ValueError(f"invalid speech clip key: {cache_key!r}")
    return f"intros/clips/{cache_key}.wav"


def pack_cover(cache_key: str) -> str:
    """A drawn pack cover, by the hash of what it shows: packs/covers/<hash>.jpg (a rebuild draws nothing)."""
    if not _INTRO.fullmatch(cache_key):
        raise ValueError(f"invalid cover key: {cache_key!r}")
    return f"packs/covers/{cache_key}.jpg"
