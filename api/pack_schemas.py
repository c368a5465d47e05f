"""Request and response schemas of the audio pack routes (api/routes/packs.py); beside api/schemas.py, which is
long enough already. Extend, never rename."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.schemas import ErrorPublic, RequestBody

PackStatusName = Literal["building", "ready", "failed"]
PackOrderName = Literal["manual", "episode", "date"]


class PackSelectionIn(RequestBody):
    quarter: str | None = Field(default=None, description='lessons published in a quarter, e.g. "2026Q3"',
                                pattern=r"^\d{4}Q[1-4]$")
    category: str | None = Field(default=None, max_length=64, description="a category slug")
    series_id: int | None = Field(default=None, ge=1)
    featured: bool | None = None


class PackCreate(RequestBody):
    title: str = Field(max_length=400)
    audience: str | None = Field(default=None, max_length=200, description="老年党员, 海上党支部, …")
    lesson_ids: list[str] | None = Field(default=None, max_length=1000)
    selection: PackSelectionIn | None = None
    order: PackOrderName | None = Field(default=None, description="manual (default for lesson_ids), episode or date")
    spoken_intros: bool = False


class PackTrackPublic(BaseModel):
    n: int
    lesson_id: str | None
    filename: str
    title: str
    duration_s: float


class PackVersionPublic(BaseModel):
    version: int
    status: PackStatusName
    size_bytes: int
    built_at: datetime | None
    expires_at: datetime | None = Field(description="superseded versions stay downloadable until then")
    download_url: str


class PackPublic(BaseModel):
    id: int
    title: str
    audience: str | None
    order: PackOrderName
    spoken_intros: bool
    selection: dict[str, object] | None
    version: int = Field(description="the newest version; status, progress and tracks are its")
    status: PackStatusName
    progress: int = Field(description="0 to 100 while building")
    error: ErrorPublic | None
    stale: bool = Field(description="a lesson changed: the next version is on its way")
    size_bytes: int
    duration_s: float
    tracks: list[PackTrackPublic]
    download_url: str | None = Field(description="the newest version's ZIP once ready")
    versions: list[PackVersionPublic] = Field(description="the versions that can be downloaded, newest first")
    feed_url: str
    created_at: datetime


class PackPage(BaseModel):
    items: list[PackPublic]
    total: int
    offset: int
    limit: int
