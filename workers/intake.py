"""Admitting a new original: the one path that the upload API, the tus uploads and `weike import` share.

Bytes go to storage first (content-addressed, deduplicated), then the lesson row is created and its
first processing step enqueued after the commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import BinaryIO

from sqlalchemy.exc import IntegrityError

from catalog.assets import AssetFacts, record_asset
from catalog.db import unit_of_work
from catalog.fields import plain_line
from catalog.lessons import LessonFields, create_lesson, find_by_sha256
from catalog.models import AssetKind, Lesson
from ingest.receive import receive_original
from ingest.storage import StoredObject
from workers.pipeline import start_lesson
from workers.wiring import Context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Admitted:
    lesson: Lesson
    created: bool  # False: these bytes were uploaded before; ``lesson`` is the existing one


def display_name(filename: str | None) -> str:
    """The last path component of an uploaded name, whatever the client's OS ("C:\\a\\b.mp4", "../x.mp4")."""
    if not filename:
        return ""
    name = PureWindowsPath(PurePosixPath(filename).name).name
    return plain_line(name).lstrip(".")[:300]  # no control or format characters (catalog/fields.py)


def title_from_filename(filename: str | None) -> str:
    name = display_name(filename)
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return stem.strip() or "未命名课程"


# What an original is comes from probing it (workers/steps.py records the type ffprobe found), never from the name
# its uploader chose: until then it is only bytes.
UNPROBED_MIME = "application/octet-stream"


def admit_stream(ctx: Context, stream: BinaryIO, *, filename: str | None, fields: LessonFields,
                 uploaded_by_id: int | None = None, branch_id: int | None = None) -> Admitted:
    """Store the bytes and create (or find) their lesson."""
    s = ctx.settings
    received = receive_original(stream, ctx.storage, max_size_bytes=s.max_upload_bytes, scratch_dir=s.scratch_dir)
    return admit_stored(ctx, received.stored, filename=filename, fields=fields, uploaded_by_id=uploaded_by_id,
                        branch_id=branch_id)


def admit_stored(ctx: Context, stored: StoredObject, *, filename: str | None, fields: LessonFields,
                 uploaded_by_id: int | None = None, branch_id: int | None = None) -> Admitted:
    """Create the lesson for an original already in storage (idempotent on its SHA-256). `branch_id`, when given,
    wins over a branch named in `fields` (an uploader's lessons go into their own branch)."""
    with unit_of_work(ctx.engine) as session:
        existing = find_by_sha256(session, stored.sha256)
        if existing is not None:
            return Admitted(existing, created=False)
    try:
        with unit_of_work(ctx.engine) as session:
            lesson = create_lesson(session, fields=fields, original_key=stored.key, original_sha256=stored.sha256,
                                   size_bytes=stored.size_bytes, original_filename=display_name(filename) or None,
                                   uploaded_by_id=uploaded_by_id, branch_id=branch_id)
            record_asset(session, lesson.id, AssetKind.ORIGINAL, AssetFacts(
                key=stored.key, mime_type=UNPROBED_MIME, size_bytes=stored.size_bytes, sha256=stored.sha256))
    except IntegrityError:
        # The same bytes were admitted concurrently: answer with the lesson that won.
        with unit_of_work(ctx.engine) as session:
            winner = find_by_sha256(session, stored.sha256)
        if winner is None:
            raise
        return Admitted(winner, created=False)
    try:
        start_lesson(ctx.settings, ctx, lesson.id)
    except Exception:
        # The probe job exists and is pending: the sweep re-enqueues it once the broker answers.
        log.exception("could not enqueue lesson %s; the sweep will retry", lesson.id)
    return Admitted(lesson, created=True)
