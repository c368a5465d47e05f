"""SQLModel tables: organisations, categories, lessons, assets, processing jobs, worker heartbeats.

Enumerations are stored as short strings (not database enum types) so that adding a value needs no
migration on PostgreSQL. Times are aware UTC datetimes (SQLModel's UTCDateTime) on both SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_lesson_id() -> str:
    return uuid.uuid4().hex


class OrgKind(StrEnum):
    COUNTY = "county"
    TOWNSHIP = "township"
    BRANCH = "branch"


class LessonStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class Language(StrEnum):
    MANDARIN = "zh"
    CANTONESE = "yue"
    OTHER = "other"


class MediaKind(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"


class AssetKind(StrEnum):
    ORIGINAL = "original"
    RENDITION = "rendition"
    POSTER = "poster"
    AUDIO_EDITION = "audio_edition"


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class Organisation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, index=True)
    kind: str = Field(default=OrgKind.BRANCH, sa_type=String(16))
    parent_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)


class Category(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=100)
    sort_order: int = 0


class LessonBase(SQLModel):
    title: str = Field(max_length=200)
    speaker: str | None = Field(default=None, max_length=100)
    recorded_on: date | None = None
    language: str = Field(default=Language.MANDARIN, sa_type=String(8))


class Lesson(LessonBase, table=True):
    id: str = Field(default_factory=new_lesson_id, primary_key=True, max_length=32)
    branch_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    category_id: int | None = Field(default=None, foreign_key="category.id", index=True)
    status: str = Field(default=LessonStatus.QUEUED, sa_type=String(16), index=True)
    progress: int = 0
    error_code: str | None = Field(default=None, max_length=64)
    error_message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    original_key: str = Field(max_length=200)
    original_sha256: str = Field(max_length=64, unique=True)
    original_filename: str | None = Field(default=None, max_length=300)
    size_bytes: int = Field(default=0, sa_type=BigInteger)
    media_kind: str | None = Field(default=None, sa_type=String(8))
    duration_s: float | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)


class Asset(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("lesson_id", "kind", "label", name="uq_asset_lesson_kind_label"),)

    id: int | None = Field(default=None, primary_key=True)
    lesson_id: str = Field(foreign_key="lesson.id", index=True, max_length=32, ondelete="CASCADE")
    kind: str = Field(sa_type=String(24))
    label: str = Field(default="", max_length=32)
    key: str = Field(max_length=200)
    mime_type: str = Field(max_length=100)
    size_bytes: int = Field(sa_type=BigInteger)
    sha256: str = Field(max_length=64)
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    bit_rate: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)


class Job(SQLModel, table=True):
    """One processing step of one lesson; the database, not the broker, knows what is running."""

    __table_args__ = (UniqueConstraint("lesson_id", "step", name="uq_job_lesson_step"),)

    id: int | None = Field(default=None, primary_key=True)
    lesson_id: str = Field(foreign_key="lesson.id", index=True, max_length=32, ondelete="CASCADE")
    step: str = Field(max_length=32)
    queue: str = Field(default="media", max_length=32)
    state: str = Field(default=JobState.PENDING, sa_type=String(16), index=True)
    progress: float = 0.0
    attempts: int = 0
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = None
    enqueued_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error_code: str | None = Field(default=None, max_length=64)
    error_message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class WorkerHeartbeat(SQLModel, table=True):
    hostname: str = Field(primary_key=True, max_length=200)
    queues: str = Field(default="", max_length=200)
    seen_at: datetime = Field(default_factory=utcnow)
