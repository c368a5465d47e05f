"""A revision from the lesson's branch: the new original is stored like any upload, the earlier revision's derived
files are copied to archive keys (the new revision's steps write the lesson's usual keys again), then one
transaction records the earlier revision and queues the lesson (catalog/revisions.py), and its probe is enqueued."""

from __future__ import annotations

import logging
from typing import BinaryIO

from catalog.assets import AssetFacts, record_asset
from catalog.db import unit_of_work
from catalog.errors import LessonNotFound
from catalog.lessons import get_lesson, lesson_facts
from catalog.lifecycle import Viewer, can_see
from catalog.models import AssetKind
from catalog.revisions import (
    ArchivedAsset,
    NewOriginal,
    check_new_original,
    check_revision_allowed,
    derived_assets,
    replace_revision,
)
from ingest import keys
from ingest.receive import receive_original
from ingest.storage import StoredObject
from workers.intake import UNPROBED_MIME, display_name
from workers.pipeline import start_lesson
from workers.wiring import Context

log = logging.getLogger(__name__)


def check_revision(ctx: Context, lesson_id: str, viewer: Viewer) -> None:
    """Before any byte is stored: the lesson exists for `viewer`, who may revise it now."""
    with unit_of_work(ctx.engine) as session:
        lesson = get_lesson(session, lesson_id)
        if lesson is None or not can_see(viewer, lesson_facts(session, lesson)):
            raise LessonNotFound(lesson_id)
        check_revision_allowed(session, lesson, viewer)


def revise_from_stream(ctx: Context, lesson_id: str, stream: BinaryIO, *, filename: str | None,
                       viewer: Viewer) -> str:
    """A revision sent in one request: checked before a byte is stored, then stored and admitted."""
    check_revision(ctx, lesson_id, viewer)
    s = ctx.settings
    received = receive_original(stream, ctx.storage, max_size_bytes=s.max_upload_bytes, scratch_dir=s.scratch_dir)
    return admit_revision(ctx, lesson_id, received.stored, filename=filename, viewer=viewer)


def admit_revision(ctx: Context, lesson_id: str, stored: StoredObject, *, filename: str | None,
                   viewer: Viewer) -> str:
    """Make the stored original the lesson's next revision and start processing it; returns the lesson id."""
    with unit_of_work(ctx.engine) as session:
        lesson = get_lesson(session, lesson_id)
        if lesson is None or not can_see(viewer, lesson_facts(session, lesson)):
            raise LessonNotFound(lesson_id)
        check_revision_allowed(session, lesson, viewer)
        check_new_original(session, stored.sha256)
        revision = lesson.revision
        to_archive = [(a.kind, a.label, a.key, a.mime_type, a.size_bytes, a.sha256)
                      for a in derived_assets(session, lesson_id)]
    archived: list[ArchivedAsset] = []
    for kind, label, key, mime, size, sha in to_archive:
        target = keys.archived_asset(lesson_id, revision, key.rsplit("/", 1)[1])
        if not ctx.storage.exists(target):
            with ctx.storage.local_copy(key) as path:
                ctx.storage.put(target, path, content_type=mime)
        archived.append(ArchivedAsset(kind=kind, label=label, key=target, mime_type=mime, size_bytes=size,
                                      sha256=sha))
    with unit_of_work(ctx.engine) as session:
        lesson = get_lesson(session, lesson_id)
        if lesson is None:
            raise LessonNotFound(lesson_id)
        name = display_name(filename) or None
        replace_revision(session, lesson, viewer, original=NewOriginal(
            key=stored.key, sha256=stored.sha256, size_bytes=stored.size_bytes, filename=name),
            archived=archived, expected_revision=revision)
        record_asset(session, lesson_id, AssetKind.ORIGINAL, AssetFacts(
            key=stored.key, mime_type=UNPROBED_MIME, size_bytes=stored.size_bytes, sha256=stored.sha256))
    try:
        start_lesson(ctx.settings, ctx, lesson_id)
    except Exception:
        log.exception("could not enqueue revision of lesson %s; the sweep will retry", lesson_id)
    log.info("lesson %s: revision %d uploaded by %s", lesson_id, revision + 1, viewer.username)
    return lesson_id
