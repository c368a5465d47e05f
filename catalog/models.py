"""SQLModel tables: organisations, categories, lessons, assets, processing jobs, worker heartbeats,
caption versions with their transcript segments, and resumable uploads.

Enumerations are stored as short strings (not database enum types) so that adding a value needs no
migration on PostgreSQL. Times are aware UTC datetimes (SQLModel's UTCDateTime) on both SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Column, LargeBinary, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_lesson_id() -> str:
    return uuid.uuid4().hex


class OrgKind(StrEnum):
    COUNTY = "county"
    TOWNSHIP = "township"
    BRANCH = "branch"


class BranchType(StrEnum):
    """What kind of branch (支部) it is: the seeds name village, community, maritime, enterprise and retiree ones."""

    VILLAGE = "村"
    COMMUNITY = "社区"
    MARITIME = "海上"
    ENTERPRISE = "企业"
    RETIREE = "离退休"


class Role(StrEnum):
    UPLOADER = "uploader"  # a branch's secretary or member: uploads into their branch
    ORGANISER = "organiser"  # a township's organiser: sees its branches' lessons
    REVIEWER = "reviewer"  # county review staff
    ADMIN = "admin"


class ReviewState(StrEnum):
    """County review, beside the processing status (None until processing is ready)."""

    AWAITING_REVIEW = "awaiting_review"
    PUBLISHED = "published"
    REJECTED = "rejected"
    REVISION_REQUESTED = "revision_requested"
    WITHDRAWN = "withdrawn"


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
    SUBTITLES_VTT = "subtitles_vtt"
    SUBTITLES_SRT = "subtitles_srt"
    TRANSCRIPT = "transcript"
    OPEN_CAPTIONS = "open_captions"
    HLS = "hls"  # the master playlist of the lesson's adaptive (HLS) presentation; its other files sit beside it


class CaptionSource(StrEnum):
    AUTO = "auto"  # made by speech recognition
    EDITED = "edited"  # corrected by a reviewer


class UploadState(StrEnum):
    ACTIVE = "active"  # receiving bytes
    COMPLETE = "complete"  # every byte received and checked; became (or joined) a lesson
    FAILED = "failed"  # the whole-file check failed; never becomes an original
    TERMINATED = "terminated"  # the client deleted it
    EXPIRED = "expired"  # unfinished past its expiry; cleaned up


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
    branch_type: str | None = Field(default=None, sa_type=String(16))
    created_at: datetime = Field(default_factory=utcnow)


class Account(SQLModel, table=True):
    """A person who logs in. Uploaders belong to a branch, organisers to a township; the others to none."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str | None = Field(default=None, max_length=100)
    role: str = Field(sa_type=String(16))
    org_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    password_hash: str = Field(max_length=200)
    disabled: bool = False
    # Bumped when the password changes or the account is disabled: tokens carrying an older epoch stop working.
    token_epoch: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class WebSession(SQLModel, table=True):
    """A browser's login: the cookie holds a random token whose SHA-256 is this row's id; logout deletes it."""

    id: str = Field(primary_key=True, max_length=64)
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


class LoginFailure(SQLModel, table=True):
    """A failed login, for the per-username limit (kept in the database: every API process shares it)."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, index=True)
    at: datetime = Field(default_factory=utcnow, index=True)


class AuditEntry(SQLModel, table=True):
    """Append-only: who did what, when. Review decisions, feature changes, caption edits, account changes."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=32)
    lesson_id: str | None = Field(default=None, foreign_key="lesson.id", index=True, max_length=32,
                                  ondelete="CASCADE")
    subject: str | None = Field(default=None, max_length=200)  # e.g. the account an account change is about
    from_state: str | None = Field(default=None, max_length=32)
    to_state: str | None = Field(default=None, max_length=32)
    reasons: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON list of reason codes
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    notes: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON [{at_s, text}]


class Category(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=100)
    sort_order: int = 0


class Speaker(SQLModel, table=True):
    """One of the county's lecturers (讲师库). A lesson names its speaker through `Lesson.speaker_id`; its free-text
    `speaker` (typed at upload) is kept in step with the name for display and search."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, index=True)
    title: str | None = Field(default=None, max_length=200)  # title or unit: 县委党校讲师, 东风村党支部书记
    bio: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    photo_key: str | None = Field(default=None, max_length=200)  # a re-encoded JPEG in the store, if any
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Series(SQLModel, table=True):
    """An ordered set of episodes (a 15-episode audio series): lessons join one with `series_id` and `episode`."""

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200, index=True)
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Tag(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=32, unique=True)


class LessonTag(SQLModel, table=True):
    lesson_id: str = Field(foreign_key="lesson.id", primary_key=True, max_length=32, ondelete="CASCADE")
    tag_id: int = Field(foreign_key="tag.id", primary_key=True, index=True, ondelete="CASCADE")


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
    # Speech recognition: what was detected, and the caption version now published (None: none yet).
    detected_language: str | None = Field(default=None, sa_type=String(8))
    language_probability: float | None = None
    caption_version: int | None = None
    # County review (catalog/lifecycle.py): None until processing is ready.
    review_state: str | None = Field(default=None, sa_type=String(24), index=True)
    featured: bool = False
    published_at: datetime | None = Field(default=None, index=True)  # the latest publication (approve, republish)
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    series_id: int | None = Field(default=None, foreign_key="series.id", index=True, ondelete="SET NULL")
    episode: int | None = None
    speaker_id: int | None = Field(default=None, foreign_key="speaker.id", index=True, ondelete="SET NULL")
    revision: int = 1
    uploaded_by_id: int | None = Field(default=None, foreign_key="account.id", index=True, ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)


def new_public_id() -> str:
    return uuid.uuid4().hex


class LessonRevision(SQLModel, table=True):
    """An earlier revision of a lesson, kept when the branch uploaded a new one: its original and the keys its
    derived files were archived under (never public again)."""

    __table_args__ = (UniqueConstraint("lesson_id", "number", name="uq_lessonrevision_lesson_number"),)

    id: int | None = Field(default=None, primary_key=True)
    lesson_id: str = Field(foreign_key="lesson.id", index=True, max_length=32, ondelete="CASCADE")
    number: int
    original_key: str = Field(max_length=200)
    original_sha256: str = Field(max_length=64, index=True)
    original_filename: str | None = Field(default=None, max_length=300)
    size_bytes: int = Field(default=0, sa_type=BigInteger)
    duration_s: float | None = None
    uploaded_by_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    # JSON [{kind, label, key, mime_type, size_bytes, sha256}]: the derived files as they were, under archive keys.
    assets_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    created_at: datetime  # when this revision was uploaded
    replaced_at: datetime = Field(default_factory=utcnow)


class Asset(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("lesson_id", "kind", "label", name="uq_asset_lesson_kind_label"),)

    id: int | None = Field(default=None, primary_key=True)
    # What URLs name: random, so assets cannot be listed by counting.
    public_id: str = Field(default_factory=new_public_id, max_length=32, unique=True, index=True)
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


class CaptionVersion(SQLModel, table=True):
    """One version of a lesson's captions: version 1 from speech recognition, later ones from reviewers' edits."""

    __table_args__ = (UniqueConstraint("lesson_id", "version", name="uq_captionversion_lesson_version"),)

    id: int | None = Field(default=None, primary_key=True)
    lesson_id: str = Field(foreign_key="lesson.id", index=True, max_length=32, ondelete="CASCADE")
    version: int
    revision: int = 1  # the lesson's revision these captions belong to (numbers go on across revisions)
    source: str = Field(default=CaptionSource.AUTO, sa_type=String(16))
    author: str | None = Field(default=None, max_length=100)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    language: str = Field(default=Language.MANDARIN, sa_type=String(8))
    engine: str | None = Field(default=None, max_length=32)
    model: str | None = Field(default=None, max_length=200)
    detected_language: str | None = Field(default=None, sa_type=String(8))
    language_probability: float | None = None
    # Why reviewers should look (comma-separated stable codes such as low_confidence, cantonese_as_mandarin).
    review_reasons: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


class TranscriptSegment(SQLModel, table=True):
    """A timed piece of a caption version's transcript, for search and for reviewers."""

    id: int | None = Field(default=None, primary_key=True)
    caption_version_id: int = Field(foreign_key="captionversion.id", index=True, ondelete="CASCADE")
    position: int
    start_s: float
    end_s: float
    text: str = Field(sa_column=Column(Text, nullable=False))
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    confidence: float | None = None
    low_confidence: bool = False


class LessonDailyCount(SQLModel, table=True):
    """Popularity without personal data: plays and downloads of a lesson on a day (UTC), nothing about who."""

    lesson_id: str = Field(foreign_key="lesson.id", primary_key=True, max_length=32, ondelete="CASCADE")
    day: date = Field(primary_key=True, index=True)
    plays: int = 0
    downloads: int = 0


class SearchDocument(SQLModel, table=True):
    """A lesson's words for the search index (catalog/search.py), one row per lesson, each part as space-joined
    tokens (words, full pinyin, initials), and its flags. Migration 0006 puts the full-text index beside it: an
    FTS5 table `searchdocument_fts` over the parts, kept in step by triggers, on SQLite; a generated tsvector
    column `tokens_tsv` over all parts with a GIN index on PostgreSQL."""

    id: int | None = Field(default=None, primary_key=True)
    lesson_id: str = Field(foreign_key="lesson.id", unique=True, max_length=32, ondelete="CASCADE")
    title: str = Field(default="", sa_column=Column(Text, nullable=False))
    people: str = Field(default="", sa_column=Column(Text, nullable=False))  # speaker name and title, series
    tags: str = Field(default="", sa_column=Column(Text, nullable=False))
    places: str = Field(default="", sa_column=Column(Text, nullable=False))  # category, branch, township
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    # What filters and the public's visibility test against, as tokens the words can never be (they start with
    # "_"): _published, _featured, _subs, _b<branch>, _t<township>, _c<category>, _l<language>, _y<year>,
    # _s<series>, _p<speaker>, _g<tag>.
    flags: str = Field(default="", sa_column=Column(Text, nullable=False))
    transcript: str = Field(default="", sa_column=Column(Text, nullable=False))


class SearchEntry(SQLModel, table=True):
    """One segment of a published lesson's published transcript as space-joined tokens, for finding the sentences
    that say a query's words once the index has found the lesson (catalog/search.py). No full-text index of its
    own since migration 0006: it is only ever read by lesson."""

    id: int | None = Field(default=None, primary_key=True)
    lesson_id: str = Field(foreign_key="lesson.id", index=True, max_length=32, ondelete="CASCADE")
    part: str = Field(sa_type=String(16))  # title, speaker, category, transcript
    segment_id: int | None = Field(default=None, foreign_key="transcriptsegment.id", index=True, ondelete="CASCADE")
    tokens: str = Field(sa_column=Column(Text, nullable=False))


class Upload(SQLModel, table=True):
    """A resumable (tus) upload: its state lives here so it survives API restarts and closed browsers."""

    id: str = Field(default_factory=new_lesson_id, primary_key=True, max_length=32)
    length: int = Field(sa_type=BigInteger)
    offset: int = Field(default=0, sa_type=BigInteger)
    state: str = Field(default=UploadState.ACTIVE, sa_type=String(16), index=True)
    metadata_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    filename: str | None = Field(default=None, max_length=300)
    # Where the bytes gather: a staging key in the store (folder store: appended file; S3: a multipart upload).
    staging_key: str = Field(max_length=200)
    multipart_upload_id: str | None = Field(default=None, max_length=200)
    parts_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    # Bytes received but held on local disk until an S3 part (at least 5 MiB) is full.
    buffered_bytes: int = Field(default=0, sa_type=BigInteger)
    # Resumable SHA-256 of the bytes received so far, so the whole-file digest needs no second read.
    sha256_state: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    client_sha256: str | None = Field(default=None, max_length=64)
    lesson_id: str | None = Field(default=None, foreign_key="lesson.id", max_length=32, ondelete="SET NULL")
    account_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    error_code: str | None = Field(default=None, max_length=64)
    error_message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # A PATCH holds this lock while it writes; a second PATCH meanwhile is answered 423 Locked.
    lock_owner: str | None = Field(default=None, max_length=64)
    lock_expires_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(default_factory=utcnow, index=True)


class PackStatus(StrEnum):
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


class PackOrder(StrEnum):
    MANUAL = "manual"  # as the lessons were listed
    EPISODE = "episode"  # by series, then episode
    DATE = "date"  # by publication date, oldest first


class AudioPack(SQLModel, table=True):
    """An ordered selection of published lessons for offline players (党课随身听): a hand-picked list or a selection
    (quarter, category, series, featured), rebuilt as a new version when one of its lessons changes."""

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    audience: str | None = Field(default=None, max_length=100)
    # JSON {"quarter": "2026Q3", "category": "slug", "series_id": 3, "featured": true}, or None for a list.
    selection_json: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # JSON [lesson id, ...] in the order given, or None for a selection.
    lesson_ids_json: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    track_order: str = Field(default=PackOrder.MANUAL, sa_type=String(16))
    spoken_intros: bool = False
    quarter: str | None = Field(default=None, max_length=8, unique=True)  # "2026Q3": the beat's quarterly pack
    version: int = 0  # the newest version's number
    stale: bool = Field(default=False, index=True)  # a lesson in the newest version changed: build the next
    created_by_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AudioPackVersion(SQLModel, table=True):
    """One build of a pack: a stored ZIP once ready. Superseded versions stay downloadable until `expires_at`."""

    __table_args__ = (UniqueConstraint("pack_id", "version", name="uq_audiopackversion_pack_version"),)

    id: int | None = Field(default=None, primary_key=True)
    pack_id: int = Field(foreign_key="audiopack.id", index=True, ondelete="CASCADE")
    version: int
    status: str = Field(default=PackStatus.BUILDING, sa_type=String(16), index=True)
    progress: int = 0
    error_code: str | None = Field(default=None, max_length=64)
    error_message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    key: str | None = Field(default=None, max_length=200)
    size_bytes: int = Field(default=0, sa_type=BigInteger)
    sha256: str | None = Field(default=None, max_length=64)
    duration_s: float = 0.0
    attempts: int = 0
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    built_at: datetime | None = None
    expires_at: datetime | None = Field(default=None, index=True)  # set when a newer version is ready


class AudioPackTrack(SQLModel, table=True):
    """A track of a pack version: which lesson, under which file name in the ZIP."""

    version_id: int = Field(foreign_key="audiopackversion.id", primary_key=True, ondelete="CASCADE")
    n: int = Field(primary_key=True)
    lesson_id: str | None = Field(default=None, foreign_key="lesson.id", index=True, max_length=32,
                                  ondelete="SET NULL")
    filename: str = Field(max_length=100)
    title: str = Field(max_length=200)
    duration_s: float = 0.0


class BroadcastProgramme(SQLModel, table=True):
    """A day's programme for the village loudspeakers (党课大家听), for the whole county or one township: fixed the
    first time somebody asks for it (catalog/broadcast.py), so that the same date always plays the same lessons."""

    __table_args__ = (UniqueConstraint("day", "township_id", name="uq_broadcastprogramme_day_township"),)

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    # The township whose programme it is; 0 for the whole county (not NULL: PostgreSQL's unique constraints treat
    # NULLs as distinct, and one county programme a day is the point).
    township_id: int = 0
    target_s: int
    # JSON [{"lesson_id": …, "reason": "new" | "featured" | "library"}] in playing order.
    slots_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class LessonRating(SQLModel, table=True):
    """A member's stars (1-5) for a published lesson, for the 十佳党课 contests (catalog/ratings.py): one row per
    account and lesson, rating again replaces it. Optional: only used when WEIKE_RATINGS_ENABLED is set."""

    __table_args__ = (CheckConstraint("stars BETWEEN 1 AND 5", name="ck_lessonrating_stars"),)

    lesson_id: str = Field(foreign_key="lesson.id", primary_key=True, max_length=32, ondelete="CASCADE")
    account_id: int = Field(foreign_key="account.id", primary_key=True, index=True, ondelete="CASCADE")
    stars: int
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class LessonFingerprint(SQLModel, table=True):
    """A lesson's copy-detection signals (catalog/similarity.py), packed: its transcript's shingles with their times,
    its sampled frames' hashes with theirs, its sound's Chromaprint. Footage and sound belong to the lesson's
    `revision`, the transcript to its published `caption_version`; a signal the lesson lacks (no picture, no sound,
    too little said) is NULL. One row per lesson, rewritten by the `similarity` step."""

    id: int | None = Field(default=None, primary_key=True)
    lesson_id: str = Field(foreign_key="lesson.id", unique=True, max_length=32, ondelete="CASCADE")
    revision: int
    caption_version: int | None = None
    transcript: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    # How the transcript's index keys were made (catalog/similar_index.py TRANSCRIPT_KEYS_FORMAT): a row made by an
    # older format is re-keyed by the next `similarity` run (`weike similar backfill` asks for one).
    transcript_keys_format: int = Field(default=1)
    footage: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    sound: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    updated_at: datetime = Field(default_factory=utcnow)


class SimilarityKey(SQLModel, table=True):
    """The copy-detection index, shared by every worker: (key, fingerprint) for each transcript LSH band, frame-hash
    chunk and sampled sound item of each lesson (the signal in the key's top bits, catalog/similarity.py). A new
    lesson's keys are looked up with one IN query per signal, counted per fingerprint, never scanned."""

    key: int = Field(sa_type=BigInteger, primary_key=True)
    fingerprint_id: int = Field(foreign_key="lessonfingerprint.id", primary_key=True, index=True,
                                ondelete="CASCADE")


class LessonMatch(SQLModel, table=True):
    """A lesson like another, as seen from `lesson_id` (the pair is stored both ways): the overall score, each
    signal's score (NULL where one of the two lacks the signal) and where the matching stretches lie, JSON
    [{start_s, end_s, other_start_s, other_end_s}] in this lesson's and the other's time. Only pairs at or above
    the reporting threshold are kept."""

    lesson_id: str = Field(foreign_key="lesson.id", primary_key=True, max_length=32, ondelete="CASCADE")
    other_id: str = Field(foreign_key="lesson.id", primary_key=True, index=True, max_length=32, ondelete="CASCADE")
    score: float
    transcript: float | None = None
    footage: float | None = None
    sound: float | None = None
    spans_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)
