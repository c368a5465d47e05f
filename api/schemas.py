"""Request and response schemas of the public API (extend, never rename)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

LanguageCode = Literal["zh", "yue", "other"]


class ErrorPublic(BaseModel):
    code: str = Field(description="stable English identifier")
    message: str = Field(description="Simplified Chinese, shown to users")


class AssetPublic(BaseModel):
    id: int
    kind: Literal["original", "rendition", "poster", "audio_edition"]
    label: str | None = None
    url: str
    mime_type: str
    size_bytes: int
    sha256: str
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    bit_rate: int | None = None


class JobPublic(BaseModel):
    step: str
    state: Literal["pending", "running", "done", "failed", "skipped"]
    progress: int = Field(ge=0, le=100)
    attempts: int
    error: ErrorPublic | None = None


class NamedRef(BaseModel):
    id: int
    name: str


class CategoryPublic(BaseModel):
    id: int
    slug: str
    name: str


class LessonPublic(BaseModel):
    id: str
    title: str
    status: Literal["queued", "processing", "ready", "failed"]
    progress: int = Field(ge=0, le=100)
    error: ErrorPublic | None = None
    speaker: str | None = None
    branch: NamedRef | None = None
    category: CategoryPublic | None = None
    language: LanguageCode
    recorded_on: date | None = None
    media_kind: Literal["video", "audio"] | None = None
    duration_s: float | None = None
    original_filename: str | None = None
    size_bytes: int
    sha256: str
    created_at: datetime
    updated_at: datetime
    assets: list[AssetPublic]
    jobs: list[JobPublic]


class LessonSummary(BaseModel):
    id: str
    title: str
    status: Literal["queued", "processing", "ready", "failed"]
    progress: int
    speaker: str | None = None
    branch: NamedRef | None = None
    category: CategoryPublic | None = None
    language: LanguageCode
    media_kind: Literal["video", "audio"] | None = None
    duration_s: float | None = None
    created_at: datetime
    poster_url: str | None = None


class LessonPage(BaseModel):
    items: list[LessonSummary]
    total: int
    offset: int
    limit: int


class HealthPublic(BaseModel):
    ok: bool
    database: bool
    storage: bool
    workers: list[str]
    detail: dict[str, str] = {}
