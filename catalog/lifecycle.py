"""The rules, as pure functions: who may see and do what, the review states and their transitions, and the state of
a lesson's captions. No database here: callers hand in facts; `tests/catalog/test_lifecycle.py` walks the tables.

    processing ready ──submit──> awaiting_review ──approve──> published ──withdraw──> withdrawn
                                   │   │                         ^                       │
                                   │   └──reject──> rejected     └───────republish───────┘
                                   └──request_revision──> revision_requested ──(revision processed)──> awaiting_review

Visibility: the public sees published lessons only; a branch's uploaders see every lesson of their branch, a
township's organisers every lesson of its branches; reviewers and administrators see everything. What a caller
may not see does not exist for them (404, never 403).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from catalog.models import JobState, LessonStatus, ReviewState, Role


@dataclass(frozen=True)
class Viewer:
    """Who is asking: an account's facts, or nobody (anonymous)."""

    username: str | None = None
    role: Role | None = None
    account_id: int | None = None
    org_id: int | None = None  # the branch of an uploader, the township of an organiser

    @property
    def anonymous(self) -> bool:
        return self.role is None


ANONYMOUS = Viewer()


@dataclass(frozen=True)
class LessonFacts:
    """What the rules need to know about a lesson."""

    review_state: str | None
    status: str
    branch_id: int | None
    township_id: int | None  # the parent of the lesson's branch


SEES_EVERYTHING = frozenset({Role.REVIEWER, Role.ADMIN})


def is_insider(viewer: Viewer, lesson: LessonFacts) -> bool:
    """The lesson's own people: its branch, its township's organisers, the county. They see it in any state, with
    its original, checksum, file name and processing errors."""
    if viewer.role in SEES_EVERYTHING:
        return True
    if viewer.org_id is None:
        return False
    if viewer.role == Role.UPLOADER:
        return lesson.branch_id is not None and lesson.branch_id == viewer.org_id
    if viewer.role == Role.ORGANISER:
        return lesson.township_id is not None and lesson.township_id == viewer.org_id
    return False


def can_see(viewer: Viewer, lesson: LessonFacts) -> bool:
    return lesson.review_state == ReviewState.PUBLISHED or is_insider(viewer, lesson)


def may_upload(viewer: Viewer) -> bool:
    """Uploaders (into their own branch), reviewers and administrators (into any)."""
    return viewer.role in (Role.UPLOADER, Role.REVIEWER, Role.ADMIN)


def may_upload_into(viewer: Viewer, branch_id: int | None) -> bool:
    if viewer.role in SEES_EVERYTHING:
        return True
    return viewer.role == Role.UPLOADER and viewer.org_id is not None and branch_id == viewer.org_id


def may_edit_captions(viewer: Viewer, lesson: LessonFacts) -> bool:
    """Reviewers and administrators always; the lesson's branch until it is published."""
    if viewer.role in SEES_EVERYTHING:
        return True
    return (viewer.role == Role.UPLOADER and is_insider(viewer, lesson)
            and lesson.review_state not in (ReviewState.PUBLISHED, ReviewState.WITHDRAWN))


def may_review(viewer: Viewer) -> bool:
    return viewer.role in SEES_EVERYTHING


def may_manage_library(viewer: Viewer) -> bool:
    """Speakers, series and tags, and which speaker, series and episode a lesson has: the county's staff."""
    return viewer.role in SEES_EVERYTHING


def may_make_packs(viewer: Viewer) -> bool:
    """Audio packs hold only published lessons: the county's staff and the townships' organisers make them."""
    return viewer.role in SEES_EVERYTHING or viewer.role == Role.ORGANISER


def may_edit_details(viewer: Viewer, lesson: LessonFacts) -> bool:
    """A lesson's title, description and tags: reviewers and administrators always; the lesson's branch until it is
    published (as with captions: once the county has published it, changes go through the county)."""
    if viewer.role in SEES_EVERYTHING:
        return True
    return (viewer.role == Role.UPLOADER and is_insider(viewer, lesson)
            and lesson.review_state not in (ReviewState.PUBLISHED, ReviewState.WITHDRAWN))


def may_upload_revision(viewer: Viewer, lesson: LessonFacts) -> bool:
    return viewer.role in SEES_EVERYTHING or (viewer.role == Role.UPLOADER and is_insider(viewer, lesson))


def may_manage_accounts(viewer: Viewer) -> bool:
    return viewer.role == Role.ADMIN


class ReviewAction(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_REVISION = "request_revision"
    WITHDRAW = "withdraw"
    REPUBLISH = "republish"


# (from, action) -> to. Anything else is an invalid transition, and the state stays as it was.
TRANSITIONS: dict[tuple[str, ReviewAction], ReviewState] = {
    (ReviewState.AWAITING_REVIEW, ReviewAction.APPROVE): ReviewState.PUBLISHED,
    (ReviewState.AWAITING_REVIEW, ReviewAction.REJECT): ReviewState.REJECTED,
    (ReviewState.AWAITING_REVIEW, ReviewAction.REQUEST_REVISION): ReviewState.REVISION_REQUESTED,
    (ReviewState.PUBLISHED, ReviewAction.WITHDRAW): ReviewState.WITHDRAWN,
    (ReviewState.WITHDRAWN, ReviewAction.REPUBLISH): ReviewState.PUBLISHED,
}
# Reviewers must say why when they turn a lesson down.
NEEDS_REASONS = frozenset({ReviewAction.REJECT, ReviewAction.REQUEST_REVISION})


def next_review_state(lesson: LessonFacts, action: ReviewAction) -> ReviewState | None:
    """Where `action` takes the lesson, or None when it may not be taken from here (a failed or unfinished lesson
    is not reviewable)."""
    if lesson.status == LessonStatus.FAILED or lesson.review_state is None:
        return None
    return TRANSITIONS.get((lesson.review_state, action))


def review_state_when_ready(current: str | None) -> str | None:
    """Processing became ready: a new lesson (or a processed revision) enters the review queue; a lesson already
    reviewed keeps its decision (a caption edit re-processes a published lesson without unpublishing it)."""
    if current is None or current == ReviewState.REVISION_REQUESTED:
        return ReviewState.AWAITING_REVIEW
    return current


def may_feature(viewer: Viewer, lesson: LessonFacts, featured: bool) -> bool | None:
    """None: the viewer may not; False: not now (only a published lesson can be marked 精品); True: allowed."""
    if viewer.role not in SEES_EVERYTHING:
        return None
    return not featured or lesson.review_state == ReviewState.PUBLISHED


# Captions: their state, from the jobs that make them and the versions that exist.
CAPTION_STEPS = ("transcribe", "captions")


@dataclass(frozen=True)
class JobFacts:
    step: str
    state: str


def caption_state(jobs: Sequence[JobFacts], *, current_version: int | None, current_segments: int) -> str | None:
    """processing | ready | empty | failed, or None when the lesson gets no captions (no sound, recognition off,
    or the lesson itself failed before recognition). A recognition failure stops mattering once a reviewer has
    typed the captions (a version exists)."""
    caption_jobs = [j for j in jobs if j.step in CAPTION_STEPS]
    if not caption_jobs and current_version is None:
        return None
    if any(j.state == JobState.FAILED and (j.step != "transcribe" or current_version is None) for j in caption_jobs):
        return "failed"
    if any(j.state in (JobState.PENDING, JobState.RUNNING) for j in caption_jobs):
        return "processing"
    if current_version is None:
        return None
    return "ready" if current_segments else "empty"


# The organisers' reports (catalog/reports.py) and members' star ratings (catalog/ratings.py).


def may_read_reports(viewer: Viewer) -> bool:
    """The organisers' reports: the county's staff (any scope) and a township's organisers (their township)."""
    return viewer.role in SEES_EVERYTHING or (viewer.role == Role.ORGANISER and viewer.org_id is not None)


def may_see_reports(viewer: Viewer, township_id: int | None) -> bool:
    """Whether the viewer may see the reports of one township, or (None) of the whole county. A township that is
    not theirs does not exist for an organiser (404, as with lessons); the county's staff see every scope."""
    if viewer.role in SEES_EVERYTHING:
        return True
    return (viewer.role == Role.ORGANISER and viewer.org_id is not None and township_id is not None
            and township_id == viewer.org_id)


def default_report_scope(viewer: Viewer) -> int | None:
    """The scope a report has when the caller names none: an organiser's township, else the county (None)."""
    return viewer.org_id if viewer.role == Role.ORGANISER else None


def may_rate(viewer: Viewer, lesson: LessonFacts) -> bool | None:
    """Star ratings (十佳党课): None: the viewer may not (no account); False: not this lesson (only published
    lessons are rated); True: allowed. Every account may rate, once per lesson (rating again replaces it)."""
    if viewer.anonymous or viewer.account_id is None:
        return None
    return lesson.review_state == ReviewState.PUBLISHED


def may_see_similar(viewer: Viewer, lesson: LessonFacts) -> bool:
    """Copy detection (the lessons like this one, the possible_copy flag): the county's reviewers and administrators,
    and the organisers of the lesson's township."""
    if viewer.role in SEES_EVERYTHING:
        return True
    return (viewer.role == Role.ORGANISER and viewer.org_id is not None and lesson.township_id is not None
            and lesson.township_id == viewer.org_id)
