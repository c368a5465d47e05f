"""Request and response schemas of the public API (extend, never rename)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import UploadFile
from pydantic import BaseModel, ConfigDict, Field

LanguageCode = Literal["zh", "yue", "other"]
ReasonCode = Literal["detached_from_practice", "copied", "reused_script", "staged", "poor_sound", "poor_picture",
                     "wrong_category", "other"]  # catalog.review.REVIEW_REASONS
ReviewStateName = Literal["awaiting_review", "published", "rejected", "revision_requested", "withdrawn"]


class RequestBody(BaseModel):
    """Request bodies refuse fields they do not know (422): nobody sets a status, a branch or an author this way."""

    model_config = ConfigDict(extra="forbid")


class ErrorPublic(BaseModel):
    code: str = Field(description="stable English identifier")
    message: str = Field(description="Simplified Chinese, shown to users")


class AssetPublic(BaseModel):
    id: str = Field(description="random public id")
    kind: Literal["original", "rendition", "poster", "audio_edition", "subtitles_vtt", "subtitles_srt", "transcript",
                  "open_captions", "hls"]
    label: str | None = None
    url: str
    mime_type: str
    size_bytes: int
    sha256: str | None = Field(default=None, description="the original's only for the lesson's branch and reviewers")
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


class CaptionsPublic(BaseModel):
    """Where a lesson's subtitles stand (see /transcript and /captions/versions for the text)."""

    state: Literal["processing", "ready", "empty", "failed"] = Field(
        description="empty: nothing was said; failed: see error, the lesson itself stays playable")
    version: int | None = Field(default=None, description="published version")
    latest_version: int | None = Field(default=None, description="newest version (ahead while an edit is processed)")
    source: Literal["auto", "edited"] | None = None
    needs_review: bool = False
    review_reasons: list[str] = []
    error: ErrorPublic | None = None


class ReviewReasonPublic(BaseModel):
    code: str
    label: str


class TimedNotePublic(BaseModel):
    at_s: float
    text: str


class ReviewPublic(BaseModel):
    """The latest review decision."""

    action: str
    reviewer: str
    reasons: list[ReviewReasonPublic]
    comment: str | None = None
    notes: list[TimedNotePublic] = []
    at: datetime


class SeriesRef(BaseModel):
    id: int
    title: str


class SpeakerRef(BaseModel):
    id: int
    name: str
    title: str | None = Field(default=None, description="title or unit: 县委党校讲师")
    photo_url: str | None = None


class LessonRatingPublic(BaseModel):
    average: float | None = Field(description="the mean of its ratings, 1 to 5; null: none yet")
    count: int


class LessonPublic(BaseModel):
    id: str
    title: str
    status: Literal["queued", "processing", "ready", "failed"]
    progress: int = Field(ge=0, le=100)
    review_state: ReviewStateName | None = Field(default=None, description="null until processing is ready")
    featured: bool = False
    revision: int = 1
    review: ReviewPublic | None = Field(default=None, description="the latest review decision: for the lesson's "
                                        "branch, its township and the county only")
    error: ErrorPublic | None = None
    speaker: str | None = None
    branch: NamedRef | None = None
    category: CategoryPublic | None = None
    language: LanguageCode
    recorded_on: date | None = None
    media_kind: Literal["video", "audio"] | None = None
    duration_s: float | None = None
    original_filename: str | None = Field(default=None, description="for the lesson's branch and reviewers")
    size_bytes: int
    sha256: str | None = Field(default=None, description="the original's; for the lesson's branch and reviewers")
    created_at: datetime
    updated_at: datetime
    assets: list[AssetPublic]
    jobs: list[JobPublic]
    detected_language: str | None = Field(default=None, description="language speech recognition heard")
    language_probability: float | None = None
    caption_version: int | None = Field(default=None, description="caption version the subtitle files are made from")
    captions: CaptionsPublic | None = Field(default=None, description="null: no sound, or speech recognition off")
    description: str | None = None
    series: SeriesRef | None = None
    episode: int | None = Field(default=None, description="the lesson's number in its series")
    speaker_ref: SpeakerRef | None = Field(default=None, description="the speaker from the lecturer pool, if set")
    tags: list[str] = []
    published_at: datetime | None = Field(default=None, description="the latest publication")
    rating: LessonRatingPublic | None = Field(default=None, description=(
        "members' stars for the 十佳党课 contests; only when ratings are enabled (WEIKE_RATINGS_ENABLED)"))
    possible_copy: bool | None = Field(default=None, description=(
        "like an earlier lesson above the flag threshold (GET /lessons/{id}/similar); for reviewers, administrators "
        "and the township's organisers, null for everybody else"))


class LessonSummary(BaseModel):
    id: str
    title: str
    status: Literal["queued", "processing", "ready", "failed"]
    progress: int
    review_state: ReviewStateName | None = None
    featured: bool = False
    speaker: str | None = None
    branch: NamedRef | None = None
    category: CategoryPublic | None = None
    language: LanguageCode
    media_kind: Literal["video", "audio"] | None = None
    duration_s: float | None = None
    created_at: datetime
    poster_url: str | None = None
    description: str | None = None
    series: SeriesRef | None = None
    episode: int | None = None
    speaker_ref: SpeakerRef | None = None
    tags: list[str] = []
    published_at: datetime | None = None


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


class TranscriptSegmentPublic(BaseModel):
    position: int
    start_s: float
    end_s: float
    text: str
    confidence: float | None = Field(default=None, description="mean token probability, 0..1; none for typed text")
    low_confidence: bool = Field(description="flagged for reviewers")


class TranscriptPublic(BaseModel):
    lesson_id: str
    version: int
    source: Literal["auto", "edited"]
    author: str | None = None
    note: str | None = None
    created_at: datetime
    language: str
    detected_language: str | None = None
    language_probability: float | None = None
    engine: str | None = None
    model: str | None = None
    needs_review: bool
    review_reasons: list[str]
    published_version: int | None = Field(default=None, description="version the subtitle files are made from")
    segments: list[TranscriptSegmentPublic]


class CaptionVersionPublic(BaseModel):
    version: int
    source: Literal["auto", "edited"]
    author: str | None = None
    note: str | None = None
    created_at: datetime
    language: str
    engine: str | None = None
    model: str | None = None
    segment_count: int
    review_reasons: list[str]
    published: bool


class CaptionHistoryPublic(BaseModel):
    lesson_id: str
    published_version: int | None = None
    versions: list[CaptionVersionPublic]


class EditedSegmentIn(RequestBody):
    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    text: str = Field(max_length=500)


class CaptionEditCreate(RequestBody):
    """The author is the account that sends it."""

    note: str | None = Field(default=None, max_length=500)
    base_version: int | None = Field(default=None, description="the version edited; 409 when it is not current")
    segments: list[EditedSegmentIn] = Field(min_length=1, max_length=20000)


class TranscriptHitPublic(BaseModel):
    lesson_id: str
    title: str
    start_s: float
    end_s: float
    text: str


class TranscriptSearchPage(BaseModel):
    items: list[TranscriptHitPublic]
    total: int
    offset: int
    limit: int


class LessonCreate(RequestBody):
    """A multipart upload: `file` and the lesson's fields. An uploader's lessons go into their own branch."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    file: UploadFile = Field(description="the lesson's video or audio file")
    title: str | None = Field(default=None, max_length=200)
    branch: str | None = Field(default=None, max_length=200, description="reviewers and administrators only")
    category: str | None = Field(default=None, max_length=64)
    speaker: str | None = Field(default=None, max_length=100)
    recorded_on: date | None = None
    language: LanguageCode = "zh"


class TokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds")


class MePublic(BaseModel):
    username: str
    display_name: str | None = None
    role: Literal["uploader", "organiser", "reviewer", "admin"]
    org: NamedRef | None = None


class TimedNoteIn(RequestBody):
    at_s: float = Field(ge=0, description="seconds into the lesson")
    text: str = Field(min_length=1, max_length=500)


class ReviewCreate(RequestBody):
    action: Literal["approve", "reject", "request_revision", "withdraw", "republish"]
    reasons: list[ReasonCode] = Field(default=[], max_length=8, description="codes from GET /api/v1/review-reasons")
    comment: str | None = Field(default=None, max_length=2000)
    notes: list[TimedNoteIn] = Field(default=[], max_length=100)


class FeatureUpdate(RequestBody):
    featured: bool


class HistoryEntryPublic(BaseModel):
    at: datetime
    actor: str
    action: str
    from_state: str | None = None
    to_state: str | None = None
    reasons: list[ReviewReasonPublic] = []
    comment: str | None = None
    notes: list[TimedNotePublic] = []


class LessonHistoryPublic(BaseModel):
    lesson_id: str
    entries: list[HistoryEntryPublic]


class RevisionCreate(RequestBody):
    """A new version of a lesson sent back for revision: only the file (the lesson keeps its fields)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    file: UploadFile = Field(description="the revised video or audio file")


class RevisionPublic(BaseModel):
    number: int
    uploaded_at: datetime
    replaced_at: datetime | None = Field(default=None, description="null: the current revision")
    size_bytes: int
    duration_s: float | None = None
    original_filename: str | None = None
    sha256: str


class RevisionHistoryPublic(BaseModel):
    lesson_id: str
    current: int
    revisions: list[RevisionPublic]


# The library's structure: speakers (讲师库), series, tags, and a lesson's details.

class SpeakerPublic(SpeakerRef):
    bio: str | None = None
    lesson_count: int = Field(default=0, description="published lessons")
    created_at: datetime
    updated_at: datetime


class SpeakerPage(BaseModel):
    items: list[SpeakerPublic]
    total: int
    offset: int
    limit: int


class SpeakerCreate(RequestBody):
    name: str = Field(min_length=1, max_length=100)
    title: str | None = Field(default=None, max_length=200, description="title or unit")
    bio: str | None = Field(default=None, max_length=2000)


class SpeakerUpdate(RequestBody):
    """Only the fields sent change; null clears title or bio."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    title: str | None = Field(default=None, max_length=200)
    bio: str | None = Field(default=None, max_length=2000)


class SeriesPublic(SeriesRef):
    description: str | None = None
    episode_count: int = Field(default=0, description="published episodes")
    created_at: datetime
    updated_at: datetime


class SeriesDetail(SeriesPublic):
    episodes: list[LessonSummary] = Field(description="published episodes in order")


class SeriesPage(BaseModel):
    items: list[SeriesPublic]
    total: int
    offset: int
    limit: int


class SeriesCreate(RequestBody):
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)


class SeriesUpdate(RequestBody):
    """Only the fields sent change; null clears the description."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)


class TagPublic(BaseModel):
    name: str
    lesson_count: int = Field(description="published lessons with the tag")


class LessonDetailsUpdate(RequestBody):
    """Only the fields sent change; null clears. The lesson's branch may change title, description and tags until
    it is published; speaker, series and episode are the county's."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    tags: list[Annotated[str, Field(max_length=64)]] | None = Field(default=None, max_length=50,
                                                                    description="at most 10 after normalising")
    speaker_id: int | None = Field(default=None, ge=1)
    series_id: int | None = Field(default=None, ge=1)
    episode: int | None = Field(default=None, ge=1, le=9999)


class SimilarSignals(BaseModel):
    transcript: float | None = Field(description="what was said; null when one of the two has no transcript")
    footage: float | None = Field(description="the pictures; null when one of the two has none")
    sound: float | None = Field(description="the recording; null when one of the two has none")


class SimilarSpan(BaseModel):
    start_s: float = Field(description="where the matching stretch starts in this lesson")
    end_s: float
    other_start_s: float = Field(description="and in the other lesson")
    other_end_s: float


class SimilarLessonPublic(BaseModel):
    lesson_id: str
    title: str
    branch: NamedRef | None = None
    review_state: ReviewStateName | None = None
    score: float = Field(ge=0, le=1, description="the strongest signal: the share of the shorter lesson found in "
                                                 "the other")
    signals: SimilarSignals
    spans: list[SimilarSpan] = Field(description="the strongest signal's matching stretches, in time order")
