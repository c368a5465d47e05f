"""catalog/lifecycle.py, table by table: every review action from every state, who sees what, who may do what,
and the captions' state."""

from __future__ import annotations

import pytest

from catalog.lifecycle import (
    ANONYMOUS,
    JobFacts,
    LessonFacts,
    ReviewAction,
    Viewer,
    can_see,
    caption_state,
    is_insider,
    may_edit_captions,
    may_edit_details,
    may_feature,
    may_manage_library,
    may_review,
    may_upload,
    may_upload_into,
    next_review_state,
    review_state_when_ready,
)
from catalog.models import ReviewState, Role

STATES = [None, "awaiting_review", "published", "rejected", "revision_requested", "withdrawn"]

# (from, action) -> to; every pair not listed is invalid.
ALLOWED = {
    ("awaiting_review", "approve"): "published",
    ("awaiting_review", "reject"): "rejected",
    ("awaiting_review", "request_revision"): "revision_requested",
    ("published", "withdraw"): "withdrawn",
    ("withdrawn", "republish"): "published",
}


def lesson(state: str | None, *, status: str = "ready", branch: int | None = 11, township: int | None = 1
           ) -> LessonFacts:
    return LessonFacts(review_state=state, status=status, branch_id=branch, township_id=township)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", list(ReviewAction))
def test_every_action_from_every_state(state: str | None, action: ReviewAction) -> None:
    assert next_review_state(lesson(state), action) == ALLOWED.get((state or "", action.value))


@pytest.mark.parametrize("action", list(ReviewAction))
def test_a_failed_lesson_is_not_reviewable(action: ReviewAction) -> None:
    assert next_review_state(lesson("awaiting_review", status="failed"), action) is None


@pytest.mark.parametrize(("before", "after"), [
    (None, "awaiting_review"), ("revision_requested", "awaiting_review"), ("published", "published"),
    ("rejected", "rejected"), ("withdrawn", "withdrawn"), ("awaiting_review", "awaiting_review")])
def test_review_state_when_processing_becomes_ready(before: str | None, after: str) -> None:
    assert review_state_when_ready(before) == after


UPLOADER_11 = Viewer("a", Role.UPLOADER, 1, org_id=11)
UPLOADER_12 = Viewer("b", Role.UPLOADER, 2, org_id=12)
ORGANISER_1 = Viewer("c", Role.ORGANISER, 3, org_id=1)
ORGANISER_2 = Viewer("d", Role.ORGANISER, 4, org_id=2)
REVIEWER = Viewer("e", Role.REVIEWER, 5)
ADMIN = Viewer("f", Role.ADMIN, 6)
VIEWERS = {"anonymous": ANONYMOUS, "uploader of the branch": UPLOADER_11, "uploader of another branch": UPLOADER_12,
           "organiser of the township": ORGANISER_1, "organiser of another township": ORGANISER_2,
           "reviewer": REVIEWER, "admin": ADMIN}
INSIDERS = {"uploader of the branch", "organiser of the township", "reviewer", "admin"}


@pytest.mark.parametrize("who", VIEWERS)
@pytest.mark.parametrize("state", STATES)
def test_who_sees_a_lesson(who: str, state: str | None) -> None:
    facts = lesson(state)
    assert is_insider(VIEWERS[who], facts) is (who in INSIDERS)
    assert can_see(VIEWERS[who], facts) is (state == "published" or who in INSIDERS)


def test_a_lesson_without_a_branch_is_the_countys_alone() -> None:
    facts = lesson("awaiting_review", branch=None, township=None)
    assert [w for w, v in VIEWERS.items() if can_see(v, facts)] == ["reviewer", "admin"]


@pytest.mark.parametrize("who", VIEWERS)
def test_who_may_upload_review_and_feature(who: str) -> None:
    viewer = VIEWERS[who]
    assert may_upload(viewer) is (who in ("uploader of the branch", "uploader of another branch", "reviewer", "admin"))
    assert may_upload_into(viewer, 11) is (who in ("uploader of the branch", "reviewer", "admin"))
    assert may_review(viewer) is (who in ("reviewer", "admin"))
    expected = True if who in ("reviewer", "admin") else None
    assert may_feature(viewer, lesson("published"), True) is expected
    assert may_feature(viewer, lesson("awaiting_review"), True) is (False if expected else None)
    assert may_feature(viewer, lesson("awaiting_review"), False) is expected  # the mark can always be taken away


@pytest.mark.parametrize("who", VIEWERS)
@pytest.mark.parametrize("state", STATES)
def test_who_may_edit_captions(who: str, state: str | None) -> None:
    county = who in ("reviewer", "admin")
    own_unpublished = who == "uploader of the branch" and state not in (ReviewState.PUBLISHED, ReviewState.WITHDRAWN)
    assert may_edit_captions(VIEWERS[who], lesson(state)) is (county or own_unpublished)


@pytest.mark.parametrize("who", VIEWERS)
@pytest.mark.parametrize("state", STATES)
def test_who_may_edit_a_lessons_details(who: str, state: str | None) -> None:
    """Title, description, tags: the county always, the lesson's branch until published; speaker, series and
    episode (and the speakers, series and tags themselves): the county only."""
    county = who in ("reviewer", "admin")
    own_unpublished = who == "uploader of the branch" and state not in (ReviewState.PUBLISHED, ReviewState.WITHDRAWN)
    assert may_edit_details(VIEWERS[who], lesson(state)) is (county or own_unpublished)
    assert may_manage_library(VIEWERS[who]) is county


@pytest.mark.parametrize(("jobs", "version", "segments", "state"), [
    ([], None, 0, None),  # no sound, or recognition off
    ([("transcribe", "pending")], None, 0, "processing"),
    ([("transcribe", "done"), ("captions", "running")], 1, 5, "processing"),
    ([("transcribe", "done"), ("captions", "done")], 1, 5, "ready"),
    ([("transcribe", "done"), ("captions", "done")], 1, 0, "empty"),  # nothing was said
    ([("transcribe", "failed")], None, 0, "failed"),
    ([("transcribe", "failed"), ("captions", "done")], 2, 3, "ready"),  # a reviewer typed them
    ([("transcribe", "done"), ("captions", "failed")], 1, 5, "failed"),
    ([("transcribe", "skipped"), ("captions", "skipped")], None, 0, None),  # the lesson itself failed
])
def test_caption_state(jobs: list[tuple[str, str]], version: int | None, segments: int, state: str | None) -> None:
    facts = [JobFacts(step, job_state) for step, job_state in jobs] + [JobFacts("renditions", "done")]
    assert caption_state(facts, current_version=version, current_segments=segments) == state
