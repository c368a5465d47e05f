"""Storage keys are generated, so an uploaded name like ../../etc/x.mp4 or -rf can do no harm."""

from __future__ import annotations

import hashlib

import pytest

from ingest import keys


def test_original_keys_are_content_addressed() -> None:
    sha = hashlib.sha256(b"x").hexdigest()
    assert keys.original(sha) == f"originals/{sha[:2]}/{sha[2:4]}/{sha}"
    keys.validate_key(keys.original(sha))


@pytest.mark.parametrize("sha", ["", "../../etc/x", "A" * 64, "g" * 64, "a" * 63])
def test_original_refuses_anything_but_a_sha256(sha: str) -> None:
    with pytest.raises(ValueError):
        keys.original(sha)


def test_lesson_asset_keys() -> None:
    assert keys.lesson_asset("0f3a9c", "720p.mp4") == "lessons/0f3a9c/720p.mp4"
    for name in ("poster.jpg", "audio.mp3", "360p.mp4", "captions.vtt"):
        keys.validate_key(keys.lesson_asset("0f3a9c", name))


@pytest.mark.parametrize(("lesson_id", "name"), [
    ("../../etc", "x.mp4"), ("0f3a9c", "../../etc/x.mp4"), ("0f3a9c", "-rf.mp4"), ("-x", "720p.mp4"),
    ("0f3a9c", "poster"), ("0f3a9c", "课程.mp4"), ("0f3a9c", "a b.mp4"), ("0F3A", "720p.mp4"),
    ("0f3a9c", ".hidden.mp4"), ("0f3a9c", "x/y.mp4"),
])
def test_lesson_asset_refuses_unsafe_parts(lesson_id: str, name: str) -> None:
    with pytest.raises(ValueError):
        keys.lesson_asset(lesson_id, name)


@pytest.mark.parametrize("key", ["../../etc/x", "-rf", "a/-b", "a/../b", "/abs", "a/./b", "a\\b", "a\n", "课程"])
def test_validate_key_refuses(key: str) -> None:
    with pytest.raises(ValueError):
        keys.validate_key(key)


def test_archived_asset_keys_keep_each_revision_apart() -> None:
    assert keys.archived_asset("0f3a9c", 1, "720p.mp4") == "lessons/0f3a9c/r1/720p.mp4"
    assert keys.validate_key(keys.archived_asset("0f3a9c", 2, "subtitles-v3.vtt"))
    with pytest.raises(ValueError):
        keys.archived_asset("0f3a9c", 0, "720p.mp4")
    with pytest.raises(ValueError):
        keys.archived_asset("0f3a9c", 1, "../x.mp4")
