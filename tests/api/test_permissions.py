"""Who sees and does what ("nothing is public until a reviewer approves it"), route by route.

`ROWS` holds one permission decision per route of the app: what each kind of caller gets for a lesson of
东风村党支部 (东风镇) awaiting review, published, rejected, sent back for revision, and withdrawn.
`test_every_route_has_a_row_in_the_matrix` reads the app's route table, so a new route fails until somebody writes
down who may call it. The callers: nobody, an uploader of the lesson's branch, an uploader of another branch of the
same township, the organisers of its township and of another township, a county reviewer, an administrator, and
(where a route reads credentials) a bearer token signed with some other key. State-changing cases each work on a
fresh lesson or upload, and a refused one must leave the lesson as it was. (A lesson that refused cases left exactly
as made, row and records, serves the next case again: making one costs more than most cases.)

What a caller may not see answers 404 with exactly the body of a lesson or asset that does not exist; 403 only
where they see the object and may not act on it; 401 with a Bearer challenge where an account is needed.

Over 400 lines on purpose: the decisions are one table, and its helpers sit next to it.
"""

from __future__ import annotations

import hashlib
import io
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import fastapi.routing
import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import col
from starlette.routing import Mount

from api.app import create_app
from catalog import captions, jobs
from catalog.accounts import get_account, viewer_of
from catalog.assets import AssetFacts, record_asset
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, create_lesson, get_lesson, lesson_facts
from catalog.lifecycle import ANONYMOUS as NOBODY
from catalog.lifecycle import can_see, is_insider
from catalog.models import AssetKind, AuditEntry, CaptionSource, CaptionVersion, JobState, LessonStatus
from catalog.organisations import branch_for_name
from catalog.search import reindex_lesson
from ingest import keys
from tests.support.accounts import COUNTY, PASSWORD, make_account, token_for
from tests.uploads.tus import metadata_header
from workers.settings import Settings
from workers.wiring import context_for

try:  # the module Starlette's TestClient is built on
    import httpx2 as httpx
except ImportError:  # an older Starlette
    import httpx  # type: ignore[no-redef]

BRANCH_A, TOWNSHIP_A = "东风村党支部", "东风镇"
TOWNSHIP_OF = {branch: township for township, branch, _ in COUNTY}
STATES = ("awaiting_review", "published", "rejected", "revision_requested", "withdrawn")
# A word only each matrix lesson's captions say, to find it by transcript search.
STATE_WORDS = {"awaiting_review": "稻田灌溉", "published": "渔船安全", "rejected": "果树修剪",
               "revision_requested": "防汛抗旱", "withdrawn": "垃圾分类"}
COUNTY_ROLES = ("reviewer", "admin")
TUS = {"Tus-Resumable": "1.0.0"}
OCTET = {"Content-Type": "application/offset+octet-stream"}
SERVED = -1  # an asset's bytes: 200 from the folder store, 307 to a presigned URL from S3
Reply = Any  # the TestClient's response (httpx's, or httpx2's with a newer Starlette)


@dataclass(frozen=True)
class Who:
    """A kind of caller; `org` is an uploader's branch or an organiser's township."""

    name: str
    role: str | None = None
    org: str | None = None
    forged: bool = False  # carries a token signed with another key

    @property
    def anonymous(self) -> bool:
        return self.role is None

    def insider_of(self, branch: str | None) -> bool:
        """The lesson's own people: its branch, its township's organisers, the county (the issue's table)."""
        if self.role in COUNTY_ROLES:
            return True
        if branch is None:
            return False
        if self.role == "uploader":
            return self.org == branch
        return self.role == "organiser" and self.org == TOWNSHIP_OF.get(branch)

    def sees(self, state: str | None, branch: str | None = BRANCH_A) -> bool:
        return state == "published" or self.insider_of(branch)


ANONYMOUS = Who("anonymous")
UPLOADER_A = Who("uploader_a", "uploader", BRANCH_A)
UPLOADER_B = Who("uploader_b", "uploader", "渔港社区党支部")  # the same township, another branch
ORGANISER_A = Who("organiser_a", "organiser", TOWNSHIP_A)
ORGANISER_B = Who("organiser_b", "organiser", "西岭乡")
REVIEWER = Who("reviewer", "reviewer")
ADMIN = Who("admin", "admin")
ACCOUNTS = (UPLOADER_A, UPLOADER_B, ORGANISER_A, ORGANISER_B, REVIEWER, ADMIN)
VIEWERS = (ANONYMOUS, *ACCOUNTS)
FORGED = Who("forged token", forged=True)


@dataclass(frozen=True)
class Made:
    id: str
    sha256: str
    original: str = ""  # the original's asset id
    rendition: str = ""


def make_lesson(settings: Settings, *, title: str, state: str | None, branch: str | None = BRANCH_A,
                words: str = "党课", uploaded_by: int | None = None, files: bool = True,
                status: str = LessonStatus.READY) -> Made:
    """A processed 10-s lesson made in the catalog (no worker): captions saying `words`, published as version 1,
    and with `files`, its original and a 360p rendition as real bytes in the stack's storage."""
    ctx = context_for(settings)
    data = f"{title} {uuid.uuid4().hex}".encode()
    sha = hashlib.sha256(data).hexdigest()
    with unit_of_work(ctx.engine) as s:
        branch_id = branch_for_name(s, branch).id if branch else None
        lesson = create_lesson(s, fields=LessonFields(title=title), original_key=keys.original(sha),
                               original_sha256=sha, size_bytes=len(data), original_filename="手机录像.mp4",
                               uploaded_by_id=uploaded_by, branch_id=branch_id)
        lesson.duration_s, lesson.media_kind, lesson.status, lesson.progress = 10.0, "video", status, 100
        lesson.review_state = state
        jobs.ensure_jobs(s, lesson.id, {"probe": "media", "renditions": "media", "transcribe": "asr",
                                        "captions": "media"})
        for job in jobs.list_jobs(s, lesson.id):
            job.state = JobState.DONE
            s.add(job)
        captions.create_version(s, lesson.id, source=CaptionSource.AUTO, language="zh",
                                segments=[captions.SegmentFacts(0.0, 3.0, f"今天讲{words}。")])
        lesson.caption_version = 1
        original = rendition = ""
        if files:
            stored = ctx.storage.put(keys.original(sha), io.BytesIO(data))
            original = record_asset(s, lesson.id, AssetKind.ORIGINAL, AssetFacts(
                stored.key, "video/mp4", stored.size_bytes, stored.sha256)).public_id
            stored = ctx.storage.put(keys.lesson_asset(lesson.id, "360p.mp4"), io.BytesIO(b"360p " + data),
                                     content_type="video/mp4")
            rendition = record_asset(s, lesson.id, AssetKind.RENDITION, AssetFacts(
                stored.key, "video/mp4", stored.size_bytes, stored.sha256, width=640, height=360),
                label="360p").public_id
        s.add(lesson)
        reindex_lesson(s, lesson)  # as the captions step and review decisions do
        return Made(lesson.id, sha, original, rendition)


class OneHop(httpx.BaseTransport):
    """Each request in one hop to the TestClient's event loop, which runs the app and reads the whole answer there
    (httpx's ASGI transport, with TestClient's client address). TestClient's own transport hops between the threads
    about eight times a request, and a hop costs a fraction of a millisecond on a small, shared machine."""

    def __init__(self, client: TestClient) -> None:
        assert client.portal is not None, "inside `with TestClient(...)`"
        self.portal = client.portal
        self.asgi = httpx.ASGITransport(client.app, raise_app_exceptions=False, client=("testclient", 50000))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def exchange() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            response = await self.asgi.handle_async_request(request)
            return response.status_code, response.headers.raw, b"".join([part async for part in response.aiter_raw()])

        status, headers, body = self.portal.call(exchange)
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body), request=request)


@dataclass
class World:
    """One stack with the six accounts logged in and a lesson of 东风村党支部 in each review state."""

    settings: Settings
    app: FastAPI
    client: TestClient
    tokens: dict[str, str]
    lessons: dict[str, Made] = field(default_factory=dict)
    missing: dict[str, Any] = field(default_factory=dict)  # the body of a lesson / asset that does not exist
    served: int = 200
    fresh: tuple[str, tuple[Any, ...]] | None = None  # the lesson a mutating case was given, and what it was
    # Lessons given to mutating cases, by state, each with what it was as made (`as_made`): those of the case under
    # way, and those of earlier cases, which serve again only while they are exactly as made.
    given: list[tuple[str, str, tuple[Any, ...]]] = field(default_factory=list)
    spare: dict[str, list[tuple[str, tuple[Any, ...]]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The cases' requests: the TestClient's app, base URL and headers, in one hop each (OneHop).
        self.http = httpx.Client(transport=OneHop(self.client), base_url=self.client.base_url,
                                 headers=self.client.headers, follow_redirects=False)

    def auth(self, who: Who) -> dict[str, str]:
        if who.forged:
            return {"Authorization": f"Bearer {self.tokens[FORGED.name]}"}
        return {} if who.anonymous else {"Authorization": f"Bearer {self.tokens[who.name]}"}

    def request(self, who: Who, method: str, url: str, **kwargs: Any) -> Reply:
        headers = {**kwargs.pop("headers", {}), **self.auth(who)}
        try:
            return self.http.request(method, url, headers=headers, **kwargs)
        finally:
            self.http.cookies.clear()  # a login's cookie must not follow the next caller

    def account_id(self, who: Who) -> int:
        with unit_of_work(context_for(self.settings).engine) as s:
            account = get_account(s, who.name)
            assert account is not None and account.id is not None
            return account.id

    def as_made(self, lesson_id: str) -> tuple[Any, ...]:
        """Everything a request could change about a lesson: its row, and how many caption versions, audit entries,
        revisions, assets, jobs, tags, ratings and uploads it has."""
        from catalog.models import Asset, Job, LessonRating, LessonRevision, LessonTag, Upload

        with unit_of_work(context_for(self.settings).engine) as s:
            lesson = get_lesson(s, lesson_id)
            assert lesson is not None
            counts = s.execute(sa_select(*(
                sa_select(func.count()).select_from(table).where(col(table.lesson_id) == lesson_id).scalar_subquery()
                for table in (CaptionVersion, AuditEntry, LessonRevision, Asset, Job, LessonTag, LessonRating, Upload)))).one()
            return tuple(lesson.model_dump().items()), tuple(counts)

    def fresh_lesson(self, state: str) -> str:
        """A lesson of branch A, exactly as made, for one state-changing case, so that cases stay independent: one
        that earlier cases were given and left exactly as made (a refused case changes nothing), else a new one."""
        spare = self.spare.setdefault(state, [])
        while spare:
            lesson_id, made = spare.pop()
            if self.as_made(lesson_id) == made:
                break
        else:
            lesson_id = make_lesson(self.settings, title=f"新课 {state}", state=state, words="新课", files=False).id
            made = self.as_made(lesson_id)
        self.given.append((state, lesson_id, made))
        self.fresh = (lesson_id, made)
        return lesson_id

    def case_done(self) -> None:
        """The lessons this case was given may serve later cases if still as made (checked when given again)."""
        for state, lesson_id, made in self.given:
            self.spare.setdefault(state, []).append((lesson_id, made))
        self.given.clear()

    def fresh_upload(self) -> str:
        """A tus upload of 8 bytes, started by the reviewer; its path."""
        r = self.request(REVIEWER, "POST", "/api/v1/uploads/", headers={
            **TUS, "Upload-Length": "8", "Upload-Metadata": metadata_header(filename="录音.m4a")})
        assert r.status_code == 201, r.text
        location: str = r.headers["Location"]
        return "/" + location.split("/", 3)[3]


# Expectations: (caller, lesson state) -> status.
Expect = Callable[[Who, str], int]


def public(status: int) -> Expect:
    return lambda who, state: status


def with_account(status: int) -> Expect:
    return lambda who, state: 401 if who.anonymous else status


def lesson_read(who: Who, state: str) -> int:
    return 200 if who.sees(state) else 404


def asset_read(who: Who, state: str) -> int:
    return SERVED if who.sees(state) else 404


def upload_into_branch_a(who: Who, state: str) -> int:
    if who.anonymous:
        return 401
    return 201 if who.role in COUNTY_ROLES or (who.role == "uploader" and who.org == BRANCH_A) else 403


# The action tried in each state, and whether the state allows it (409 invalid_transition otherwise).
REVIEW_ACTIONS = {"awaiting_review": ("approve", True), "published": ("withdraw", True),
                  "rejected": ("approve", False), "revision_requested": ("approve", False),
                  "withdrawn": ("republish", True)}


def review_expect(who: Who, state: str) -> int:
    if who.anonymous:
        return 401
    if not who.sees(state):
        return 404
    if who.role not in COUNTY_ROLES:
        return 403
    return 200 if REVIEW_ACTIONS[state][1] else 409


def feature_expect(who: Who, state: str) -> int:
    if who.anonymous:
        return 401
    if not who.sees(state):
        return 404
    if who.role not in COUNTY_ROLES:
        return 403
    return 200 if state == "published" else 409  # not_published


def captions_edit_expect(who: Who, state: str) -> int:
    if who.anonymous:
        return 401
    if not who.sees(state):
        return 404
    branch_may = who.role == "uploader" and who.insider_of(BRANCH_A) and state not in ("published", "withdrawn")
    return 201 if who.role in COUNTY_ROLES or branch_may else 403


def revision_expect(who: Who, state: str) -> int:
    """A new file for a lesson the county sent back: its branch or the county, only in revision_requested."""
    if who.anonymous:
        return 401
    if not who.sees(state):
        return 404
    if not (who.role in COUNTY_ROLES or (who.role == "uploader" and who.insider_of(BRANCH_A))):
        return 403
    return 201 if state == "revision_requested" else 409


def insiders_read(who: Who, state: str) -> int:
    """Earlier revisions (their originals' names and checksums), the review history (reviewers' comments, earlier
    titles), caption versions (drafts, editors' notes): insiders only."""
    if who.anonymous:
        return 401
    if not who.sees(state):
        return 404
    return 200 if who.insider_of(BRANCH_A) else 403


def upload_page_expect(who: Who, state: str) -> int:
    if who.anonymous:
        return 303  # to /login
    return 403 if who.role == "organiser" else 200


def desk_expect(who: Who, state: str) -> int:
    """The reviewers' desk (审核台): the county only, whatever the lesson."""
    if who.anonymous:
        return 303  # to /login
    return 200 if who.role in COUNTY_ROLES else 403


def sees_similar(who: Who) -> bool:
    """Copy detection: the county, and the organisers of the lesson's township."""
    return who.role in COUNTY_ROLES or (who.role == "organiser" and who.insider_of(BRANCH_A))


def similar_expect(who: Who, state: str) -> int:
    if who.anonymous:
        return 401
    if not who.sees(state):
        return 404
    return 200 if sees_similar(who) else 403


# Calls: (world, caller, lesson state) -> response.
Call = Callable[[World, Who, str], Reply]


def fetch(method: str, template: str, **kwargs: Any) -> Call:
    """A request to `template` with {lesson}, {rendition} and {word} filled in from the state's lesson."""

    def call(w: World, who: Who, state: str) -> Reply:
        made = w.lessons[state]
        url = template.format(lesson=made.id, rendition=made.rendition, word=STATE_WORDS[state])
        return w.request(who, method, url, **kwargs)

    return call


def upload_lesson(w: World, who: Who, state: str) -> Reply:
    data = f"{who.name} {uuid.uuid4().hex}".encode()
    return w.request(who, "POST", "/api/v1/lessons", data={"title": "上传的课", "branch": BRANCH_A},
                     files={"file": ("课.mp4", data, "application/octet-stream")})


def tus_create(path: str) -> Call:
    def call(w: World, who: Who, state: str) -> Reply:
        return w.request(who, "POST", path, headers={
            **TUS, "Upload-Length": "8", "Upload-Metadata": metadata_header(filename="录音.m4a", branch=BRANCH_A)})

    return call


def tus_on_fresh_upload(method: str, **kwargs: Any) -> Call:
    def call(w: World, who: Who, state: str) -> Reply:
        return w.request(who, method, w.fresh_upload(), **kwargs)

    return call


def review(w: World, who: Who, state: str) -> Reply:
    return w.request(who, "POST", f"/api/v1/lessons/{w.fresh_lesson(state)}/review",
                     json={"action": REVIEW_ACTIONS[state][0], "comment": "看过了"})


def upload_revision(w: World, who: Who, state: str) -> Reply:
    data = f"revision by {who.name} {uuid.uuid4().hex}".encode()
    return w.request(who, "POST", f"/api/v1/lessons/{w.fresh_lesson(state)}/revisions",
                     files={"file": ("修改后.mp4", data, "application/octet-stream")})


def feature(w: World, who: Who, state: str) -> Reply:
    return w.request(who, "POST", f"/api/v1/lessons/{w.fresh_lesson(state)}/feature", json={"featured": True})


def edit_captions(w: World, who: Who, state: str) -> Reply:
    return w.request(who, "POST", f"/api/v1/lessons/{w.fresh_lesson(state)}/captions",
                     json={"segments": [{"start_s": 0.0, "end_s": 3.0, "text": "今天讲新课。"}], "note": "改字"})


def details_edit_expect(who: Who, state: str) -> int:
    """Title, description, tags: the county; the lesson's branch until it is published."""
    status = captions_edit_expect(who, state)  # the same people as for captions
    return 200 if status == 201 else status


def edit_details(w: World, who: Who, state: str) -> Reply:
    return w.request(who, "PATCH", f"/api/v1/lessons/{w.fresh_lesson(state)}",
                     json={"title": "改过的标题", "description": "结合本村实际", "tags": ["乡村振兴"]})


def county_only(status: int) -> Expect:
    """Speakers and series: reviewers and administrators."""
    return lambda who, state: 401 if who.anonymous else status if who.role in COUNTY_ROLES else 403


def a_speaker(w: World, *, photo: bool = False) -> int:
    """A speaker made in the catalog, with a stored photo if asked."""
    from catalog.models import Speaker

    ctx = context_for(w.settings)
    with unit_of_work(ctx.engine) as s:
        speaker = Speaker(name=f"讲师 {uuid.uuid4().hex[:6]}", title="县委党校讲师")
        s.add(speaker)
        s.flush()
        assert speaker.id is not None
        if photo:
            data = b"\xff\xd8\xff not really a jpeg, but ours"
            speaker.photo_key = keys.speaker_photo(speaker.id, hashlib.sha256(data).hexdigest())
            ctx.storage.put(speaker.photo_key, io.BytesIO(data), content_type="image/jpeg")
        return speaker.id


def a_series(w: World) -> int:
    from catalog.models import Series

    with unit_of_work(context_for(w.settings).engine) as s:
        series = Series(title=f"系列 {uuid.uuid4().hex[:6]}")
        s.add(series)
        s.flush()
        assert series.id is not None
        return series.id


def tiny_png() -> bytes:
    """A 2x2 grey PNG, built here (a real picture for the photo route to re-encode)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + b"\x80\x80\x80" * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def on_speaker(method: str, suffix: str = "", *, photo: bool = False, **kwargs: Any) -> Call:
    def call(w: World, who: Who, state: str) -> Reply:
        return w.request(who, method, f"/api/v1/speakers/{a_speaker(w, photo=photo)}{suffix}", **kwargs)

    return call


def on_series(method: str, **kwargs: Any) -> Call:
    def call(w: World, who: Who, state: str) -> Reply:
        return w.request(who, method, f"/api/v1/series/{a_series(w)}", **kwargs)

    return call


def put_photo(w: World, who: Who, state: str) -> Reply:
    return w.request(who, "PUT", f"/api/v1/speakers/{a_speaker(w)}/photo",
                     files={"file": ("头像.png", tiny_png(), "image/png")})


def login_form(w: World, who: Who, state: str) -> Reply:
    form = w.http.get("/login")  # as a browser opens it first: the form's token, and its cookie in the jar
    found = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert found, form.text
    return w.request(who, "POST", "/login", data={"username": REVIEWER.name, "password": PASSWORD,
                                                  "next": "/my-uploads", "login_token": found.group(1)})


def token_form(w: World, who: Who, state: str) -> Reply:
    return w.request(who, "POST", "/api/v1/auth/token", data={"username": REVIEWER.name, "password": PASSWORD})


# Checks beyond the status: (world, caller, lesson state, response) -> problems.
Check = Callable[[World, Who, str, Reply], list[str]]


def fetch_hls_master(w: World, who: Who, state: str) -> Reply:
    """The master playlist of the lesson's HLS presentation, by its name under the asset (made here, once)."""
    from catalog.assets import list_assets

    made, ctx = w.lessons[state], context_for(w.settings)
    with unit_of_work(ctx.engine) as s:
        hls = next((a for a in list_assets(s, made.id) if a.kind == AssetKind.HLS), None)
        if hls is None:
            stored = ctx.storage.put(keys.presentation_file(made.id, "hls-r1", "master.m3u8"),
                                     io.BytesIO(b"#EXTM3U\n"), content_type="application/vnd.apple.mpegurl")
            hls = record_asset(s, made.id, AssetKind.HLS, AssetFacts(
                stored.key, "application/vnd.apple.mpegurl", stored.size_bytes, stored.sha256))
        public_id = hls.public_id
    return w.request(who, "GET", f"/api/v1/assets/{public_id}/content/master.m3u8")


def lesson_json_as_allowed(w: World, who: Who, state: str, r: Reply) -> list[str]:
    """Insiders get the original, checksum, file name and jobs; nobody else gets a trace of them."""
    if r.status_code != 200:
        return []
    made, body = w.lessons[state], r.json()
    kinds = [a["kind"] for a in body["assets"]]
    if (body.get("possible_copy") is not None) != sees_similar(who):
        return [f"possible_copy is {body.get('possible_copy')!r} for {who.name}"]
    if who.insider_of(BRANCH_A):
        ok = ("original" in kinds and body["sha256"] == made.sha256 and body["original_filename"] == "手机录像.mp4"
              and bool(body["jobs"]))
        return [] if ok else [f"insider misses the original's facts: {kinds} {body['sha256']} {body['jobs']}"]
    leaks = [name for name, found in (("original asset", "original" in kinds), ("sha256", body["sha256"]),
                                      ("original_filename", body["original_filename"]), ("jobs", body["jobs"]),
                                      ("the review decision", body["review"]),
                                      ("original id", made.original in r.text), ("checksum", made.sha256 in r.text))
             if found]
    return [f"lesson JSON leaks {', '.join(leaks)}"] if leaks else []


def listed_as_allowed(w: World, who: Who, state: str, r: Reply) -> list[str]:
    if r.status_code != 200:
        return []
    problems = []
    ids = {item["id"] for item in r.json()["items"]}
    if (w.lessons[state].id in ids) != who.sees(state):
        problems.append(f"the {state} lesson {'missing from' if who.sees(state) else 'leaks into'} the list")
    for item in r.json()["items"]:  # whatever else is listed (lessons of other cases) must be visible too
        branch = item["branch"]["name"] if item["branch"] else None
        if not who.sees(item["review_state"], branch):
            problems.append(f"lists {item['title']} ({item['review_state']}, {branch})")
    return problems


def hits_as_allowed(w: World, who: Who, state: str, r: Reply) -> list[str]:
    if r.status_code != 200:
        return []
    hit = {item["lesson_id"] for item in r.json()["items"]} == {w.lessons[state].id}
    if hit != who.sees(state) or r.json()["total"] != (1 if who.sees(state) else 0):
        return [f"transcript search {'misses' if who.sees(state) else 'finds'} the {state} lesson: {r.json()}"]
    return []


def search_indexed(w: World, who: Who, state: str) -> Reply:
    """GET /api/v1/search for the state's word, after indexing its lesson (made here without a review decision)."""
    from catalog.lessons import get_lesson as lesson_of
    from catalog.search import reindex_lesson

    with unit_of_work(context_for(w.settings).engine) as s:
        lesson = lesson_of(s, w.lessons[state].id)
        assert lesson is not None
        reindex_lesson(s, lesson)
    return w.request(who, "GET", f"/api/v1/search?q={STATE_WORDS[state]}")


def found_only_when_published(w: World, who: Who, state: str, r: Reply) -> list[str]:
    found = {item["id"] for item in r.json()["lessons"]} == {w.lessons[state].id}
    return [] if found == (state == "published") else [f"search {'misses' if state == 'published' else 'finds'}"
                                                       f" the {state} lesson: {r.json()}"]

def original_only_for_insiders(w: World, who: Who, state: str, r: Reply) -> list[str]:
    """Originals are never public, not even of a published lesson (phones write GPS positions into files)."""
    as_who = ANONYMOUS if who.forged else who
    original = w.request(who, "GET", f"/api/v1/assets/{w.lessons[state].original}/content")
    expected = 401 if who.forged else (w.served if as_who.insider_of(BRANCH_A) else 404)
    if original.status_code != expected:
        return [f"original: {original.status_code}, expected {expected}"]
    if expected == 404 and original.json() != w.missing["asset"]:
        return [f"original's 404 differs from a missing asset's: {original.json()}"]
    if expected == 200 and original.headers["content-type"] != "application/octet-stream":
        return [f"original served as {original.headers['content-type']}"]
    return []


def tus_revision_as_allowed(w: World, who: Who, state: str, r: Reply) -> list[str]:
    """A tus upload that answers a request for revision (revision_of) is checked when it is created."""
    lesson_id = w.fresh_lesson(state)
    created = w.request(who, "POST", "/api/v1/uploads/", headers={**TUS, "Upload-Length": "8", "Upload-Metadata":
                                                                 metadata_header(filename="新.mp4", revision_of=lesson_id)})
    # Whoever may not upload at all is refused first, whatever the lesson (organisers: 403 for any lesson id).
    expected = 401 if who.forged else 403 if who.role == "organiser" else revision_expect(who, state)
    if created.status_code != expected:
        return [f"tus revision_of: {created.status_code}, expected {expected}: {created.text[:200]}"]
    if expected == 404 or who.role == "organiser":  # exactly the answer for a lesson that does not exist
        nowhere = w.request(who, "POST", "/api/v1/uploads/", headers={**TUS, "Upload-Length": "8", "Upload-Metadata":
                                                                      metadata_header(revision_of=uuid.uuid4().hex)})
        if (nowhere.status_code, nowhere.json()) != (created.status_code, created.json()):
            return [f"tus revision_of: {created.json()} unlike a missing lesson's {nowhere.json()}"]
    return []


def revision_page_as_allowed(w: World, who: Who, state: str, r: Reply) -> list[str]:
    """/upload?revision_of=: the upload page for a revised file answers as the revision route does."""
    page = w.request(who, "GET", f"/upload?revision_of={w.lessons[state].id}")
    as_who = ANONYMOUS if who.forged else who
    expected = 401 if who.forged else 303 if who.anonymous else 403 if who.role == "organiser" else {
        201: 200}.get(revision_expect(as_who, state), revision_expect(as_who, state))
    if page.status_code != expected:
        return [f"/upload?revision_of=: {page.status_code}, expected {expected}"]
    if expected == 404:
        nowhere = w.request(who, "GET", f"/upload?revision_of={uuid.uuid4().hex}")
        if (nowhere.status_code, nowhere.text) != (page.status_code, page.text):
            return ["/upload?revision_of=: the 404 page differs from a missing lesson's"]
    return []


def home_lists_published_only(w: World, who: Who, state: str, r: Reply) -> list[str]:
    """The library's home is the same for everybody: the published lesson, nothing else of the matrix's."""
    if r.status_code != 200:
        return []
    shown = {s for s, made in w.lessons.items() if f"/lessons/{made.id}" in r.text}
    return [] if shown == {"published"} else [f"the home links the lessons {sorted(shown)}"]


def on_library_page(kind: str) -> Call:
    """The public page of a series or a speaker made here for the state's lesson, of its branch, or the search page
    for its words (indexed here): the same for everybody, whoever asks."""

    def call(w: World, who: Who, state: str) -> Reply:
        from catalog.lessons import get_lesson as lesson_of
        from catalog.models import Series, Speaker
        from catalog.search import reindex_lesson

        with unit_of_work(context_for(w.settings).engine) as s:
            lesson = lesson_of(s, w.lessons[state].id)
            assert lesson is not None and lesson.branch_id is not None
            path = f"/branches/{lesson.branch_id}"
            if kind == "search":
                reindex_lesson(s, lesson)
                path = f"/search?q={STATE_WORDS[state]}"
            elif kind in ("series", "speakers"):
                group = Series(title=f"系列 {state}") if kind == "series" else Speaker(name=f"讲师 {state}")
                s.add(group)
                s.flush()
                lesson.series_id, lesson.episode = (group.id, 1) if kind == "series" else (lesson.series_id, None)
                lesson.speaker_id = group.id if kind == "speakers" else lesson.speaker_id
                s.add(lesson)
                path = f"/{kind}/{group.id}"
        return w.request(who, "GET", path)

    return call


def on_air(path: str) -> Call:
    """A feed or the broadcast, after giving every matrix lesson an audio edition (real bytes in the stack's
    storage) and putting them all in one new series and in 技能培训; `{series}` and `{tomorrow}` are filled in."""

    def call(w: World, who: Who, state: str) -> Reply:
        from datetime import timedelta

        from catalog.broadcast import county_today
        from catalog.lessons import get_lesson as lesson_of
        from catalog.models import Series
        from catalog.organisations import find_category

        ctx = context_for(w.settings)
        with unit_of_work(ctx.engine) as s:
            series = Series(title="随身听系列")
            s.add(series)
            s.flush()
            skills = find_category(s, "skills")
            for made in w.lessons.values():
                lesson = lesson_of(s, made.id)
                assert lesson is not None and skills is not None
                lesson.series_id, lesson.category_id = series.id, skills.id
                s.add(lesson)
        for made in w.lessons.values():
            give_audio(w, made.id)  # once per lesson: the first call stores it, later ones find it
        tomorrow = (county_today() + timedelta(days=1)).isoformat()
        return w.request(who, "GET", path.format(series=series.id, tomorrow=tomorrow))

    return call


def pack_makers(status: int) -> Expect:
    """Audio packs: the county's staff and the townships' organisers make them."""
    return lambda who, state: (401 if who.anonymous else 403 if who.role == "uploader" else status)


def pack_page_makers(status: int) -> Expect:
    """The pages that make and rebuild packs: nobody is sent to log in, an uploader gets a Chinese 403 page."""
    return lambda who, state: (303 if who.anonymous else 403 if who.role == "uploader" else status)


def pack_create_expect(who: Who, state: str) -> int:
    """A pack of the state's lesson: only a published one goes in, whoever asks."""
    if who.anonymous or who.role == "uploader":
        return 401 if who.anonymous else 403
    return 201 if state == "published" else 422


def give_audio(w: World, lesson_id: str) -> None:
    """An audio edition for a matrix lesson (bytes that are never built into a pack here)."""
    from catalog.assets import has_asset

    ctx = context_for(w.settings)
    with unit_of_work(ctx.engine) as s:
        if has_asset(s, lesson_id, AssetKind.AUDIO_EDITION):
            return
        stored = ctx.storage.put(keys.lesson_asset(lesson_id, "audio.mp3"), io.BytesIO(b"ID3 " + lesson_id.encode()),
                                 content_type="audio/mpeg")
        record_asset(s, lesson_id, AssetKind.AUDIO_EDITION, AssetFacts(
            stored.key, "audio/mpeg", stored.size_bytes, stored.sha256, duration_s=300.0))


def pack_of_states_lesson(w: World, who: Who, state: str) -> Reply:
    made = w.lessons[state]
    give_audio(w, made.id)
    return w.request(who, "POST", "/api/v1/packs", json={"title": "随身听", "lesson_ids": [made.id]})


def on_pack(method: str, suffix: str = "", *, at: str = "/api/v1/packs/{pack}") -> Call:
    """A request to a pack (building: no worker runs here) holding the published matrix lesson."""

    def call(w: World, who: Who, state: str) -> Reply:
        from catalog import packs
        from catalog.lifecycle import Viewer
        from catalog.models import Role
        from workers.packs import plan_version

        made = w.lessons["published"]
        give_audio(w, made.id)
        with unit_of_work(context_for(w.settings).engine) as s:
            pack = packs.create_pack(s, Viewer(username="matrix", role=Role.ADMIN), title="矩阵", lesson_ids=[made.id])
            plan_version(s, pack)
            pack_id = pack.id
        return w.request(who, method, at.format(pack=pack_id) + suffix)

    return call


def on_air_published_only(w: World, who: Who, state: str, r: Reply) -> list[str]:
    """Feeds, playlists and programmes carry the published matrix lesson (by its id or its audio's) and no other."""
    if r.status_code != 200:
        return []
    from catalog.assets import list_assets

    shown = set()
    with unit_of_work(context_for(w.settings).engine) as s:
        for st, made in w.lessons.items():
            audio = [a.public_id for a in list_assets(s, made.id) if a.kind == AssetKind.AUDIO_EDITION]
            if made.id in r.text or any(public_id in r.text for public_id in audio):
                shown.add(st)
    return [] if shown == {"published"} else [f"on air: the lessons {sorted(shown)}"]


def links_published_only(w: World, who: Who, state: str, r: Reply) -> list[str]:
    """A library page lists the state's lesson if it is published, for everybody alike (insiders included)."""
    if r.status_code != 200:
        return []
    shown = f"/lessons/{w.lessons[state].id}" in r.text
    return [] if shown == (state == "published") else [f"the page {'misses' if not shown else 'links'} the lesson"]


def library_page_as_allowed(w: World, who: Who, state: str, r: Reply) -> list[str]:
    """A lesson's public page: a 404 exactly like a missing lesson's; never a trace of the original, even for
    the lesson's own people (their original is on the desk and in 我的上传, not on the public page)."""
    made = w.lessons[state]
    if r.status_code == 404:
        nowhere = w.request(who, "GET", f"/lessons/{uuid.uuid4().hex}")
        return [] if (nowhere.status_code, nowhere.text) == (404, r.text) else ["the 404 page differs from a missing lesson's"]
    if r.status_code == 200 and (made.original in r.text or made.sha256 in r.text):
        return ["the public page shows the original"]
    return []


def me_is_the_caller(w: World, who: Who, state: str, r: Reply) -> list[str]:
    if r.status_code != 200:
        return []
    body = r.json()
    org = body["org"]["name"] if body["org"] else None
    return [] if (body["username"], body["role"], org) == (who.name, who.role, who.org) else [f"/me says {body}"]


def uploaded_into_branch_a(w: World, who: Who, state: str, r: Reply) -> list[str]:
    if r.status_code != 201:
        return []
    branch = (r.json().get("branch") or {}).get("name")
    return [] if branch == BRANCH_A else [f"uploaded into {branch}"]


# The organisers' reports (api/routes/reports.py, report_pages.py) and members' star ratings (api/routes/ratings.py).


def report_readers(status: int) -> Expect:
    """Reports: the county's staff (any scope) and the townships' organisers (their own); uploaders are refused."""
    return lambda who, state: 401 if who.anonymous else 403 if who.role == "uploader" else status


def report_pages(who: Who, state: str) -> int:
    return 303 if who.anonymous else 403 if who.role == "uploader" else 200


def report_in_scope(w: World, who: Who, state: str, r: Reply) -> list[str]:
    """An organiser's report names nothing of another township, and asking for that township answers exactly as
    for one that does not exist (404)."""
    if r.status_code != 200 or who.role != "organiser":
        return []
    from catalog.reports import find_township

    other = next(t for t, _, _ in COUNTY if t != who.org)
    leaks = [name for t, b, _ in COUNTY if t == other for name in (t, b) if name in r.text]
    problems = [f"the report names {sorted(set(leaks))}"] if leaks else []
    with unit_of_work(context_for(w.settings).engine) as s:
        found = find_township(s, other)
        assert found is not None
        other_id = found.id
    asked, nowhere = (w.request(who, "GET", r.url.path, params={"township": ref}) for ref in (other_id, 999999))
    if asked.status_code != 404 or asked.text != nowhere.text:
        problems.append(f"another township: {asked.status_code} {asked.text[:100]}, a missing one: {nowhere.text[:100]}")
    return problems


def with_ratings(call: Call) -> Call:
    """The call with WEIKE_RATINGS_ENABLED on (off by default: every ratings route is then 404 ratings_disabled)."""

    def wrapped(w: World, who: Who, state: str) -> Reply:
        object.__setattr__(w.settings, "ratings_enabled", True)  # the app reads the same settings object
        try:
            return call(w, who, state)
        finally:
            object.__setattr__(w.settings, "ratings_enabled", False)

    return wrapped


def rate_expect(who: Who, state: str) -> int:
    """Stars: any account, a lesson it sees, published only."""
    if who.anonymous:
        return 401
    if not who.sees(state):
        return 404
    return 200 if state == "published" else 409


def rate_page_expect(who: Who, state: str) -> int:
    """The lesson page's star form: to the login page, or back to the lesson (303)."""
    status = 303 if who.anonymous else rate_expect(who, state)
    return 303 if status == 200 else status


@dataclass(frozen=True)
class Row:
    expect: Expect
    call: Call
    lesson: bool = False  # the answer depends on the lesson's review state
    mutates: bool = False  # changes state: each case works on a fresh lesson or upload
    identifies: bool = True  # reads the caller's credentials: a bad token is 401
    not_found: str | None = None  # "lesson" / "asset": a 404 must look exactly like that of a missing one
    check: Check | None = None


LESSON = "/api/v1/lessons/{lesson}"
ROWS: dict[tuple[str, str], Row] = {
    # FastAPI's own documentation pages and schema: public.
    ("GET", "/openapi.json"): Row(public(200), fetch("GET", "/openapi.json"), identifies=False),
    ("GET", "/docs"): Row(public(200), fetch("GET", "/docs"), identifies=False),
    ("GET", "/docs/oauth2-redirect"): Row(public(200), fetch("GET", "/docs/oauth2-redirect"), identifies=False),
    ("GET", "/redoc"): Row(public(200), fetch("GET", "/redoc"), identifies=False),
    ("MOUNT", "/static"): Row(public(200), fetch("GET", "/static/weike.css"), identifies=False),
    # For monitoring: no worker runs in this test, hence 503.
    ("GET", "/healthz"): Row(public(503), fetch("GET", "/healthz"), identifies=False),
    # Accounts: anybody may try to log in; /me needs an account.
    ("POST", "/api/v1/auth/token"): Row(public(200), token_form, identifies=False),
    ("GET", "/api/v1/me"): Row(with_account(200), fetch("GET", "/api/v1/me"), check=me_is_the_caller),
    # Reference data: public.
    ("GET", "/api/v1/categories"): Row(public(200), fetch("GET", "/api/v1/categories"), identifies=False),
    ("GET", "/api/v1/branches"): Row(public(200), fetch("GET", "/api/v1/branches"), identifies=False),
    ("GET", "/api/v1/review-reasons"): Row(public(200), fetch("GET", "/api/v1/review-reasons"), identifies=False),
    # The library's structure: speakers, series and tags are public; changing them is the county's.
    ("GET", "/api/v1/speakers"): Row(public(200), fetch("GET", "/api/v1/speakers"), identifies=False),
    ("GET", "/api/v1/speakers/{speaker_id}"): Row(public(200), on_speaker("GET"), identifies=False),
    ("GET", "/api/v1/speakers/{speaker_id}/photo"): Row(public(200), on_speaker("GET", "/photo", photo=True),
                                                        identifies=False),
    ("GET", "/api/v1/series"): Row(public(200), fetch("GET", "/api/v1/series"), identifies=False),
    ("GET", "/api/v1/series/{series_id}"): Row(public(200), on_series("GET"), identifies=False),
    ("GET", "/api/v1/tags"): Row(public(200), fetch("GET", "/api/v1/tags"), identifies=False),
    ("POST", "/api/v1/speakers"): Row(county_only(201), fetch("POST", "/api/v1/speakers", json={"name": "王建国"}),
                                      mutates=True),
    ("PATCH", "/api/v1/speakers/{speaker_id}"): Row(county_only(200), on_speaker("PATCH", json={"title": "镇党委书记"}),
                                                    mutates=True),
    ("PUT", "/api/v1/speakers/{speaker_id}/photo"): Row(county_only(200), put_photo, mutates=True),
    ("POST", "/api/v1/series"): Row(county_only(201), fetch("POST", "/api/v1/series", json={"title": "党史故事"}),
                                    mutates=True),
    ("PATCH", "/api/v1/series/{series_id}"): Row(county_only(200), on_series("PATCH", json={"title": "新名字"}),
                                                 mutates=True),
    # Lessons as each caller may see them.
    ("GET", "/api/v1/lessons"): Row(public(200), fetch("GET", "/api/v1/lessons?limit=200"), lesson=True,
                                    check=listed_as_allowed),
    ("GET", "/api/v1/lessons/{lesson_id}"): Row(lesson_read, fetch("GET", LESSON), lesson=True, not_found="lesson",
                                                check=lesson_json_as_allowed),
    ("GET", "/api/v1/assets/{asset_id}/content"): Row(asset_read, fetch("GET", "/api/v1/assets/{rendition}/content"),
                                                      lesson=True, not_found="asset",
                                                      check=original_only_for_insiders),
    ("GET", "/api/v1/assets/{asset_id}/content/{name}"): Row(lesson_read, fetch_hls_master, lesson=True,
                                                             not_found="asset"),  # proxied, never redirected
    ("GET", "/api/v1/lessons/{lesson_id}/history"): Row(insiders_read, fetch("GET", LESSON + "/history"),
                                                        lesson=True, not_found="lesson"),
    ("GET", "/api/v1/lessons/{lesson_id}/similar"): Row(similar_expect, fetch("GET", LESSON + "/similar"),
                                                        lesson=True, not_found="lesson"),
    ("GET", "/api/v1/lessons/{lesson_id}/transcript"): Row(lesson_read, fetch("GET", LESSON + "/transcript"),
                                                           lesson=True, not_found="lesson"),
    ("GET", "/api/v1/lessons/{lesson_id}/captions/versions"): Row(
        insiders_read, fetch("GET", LESSON + "/captions/versions"), lesson=True, not_found="lesson"),
    ("GET", "/api/v1/transcripts/search"): Row(public(200), fetch("GET", "/api/v1/transcripts/search?q={word}"),
                                               lesson=True, check=hits_as_allowed),
    ("GET", "/api/v1/search"): Row(public(200), search_indexed, lesson=True, identifies=False,  # published only
                                   check=found_only_when_published),
    # Changes.
    ("POST", "/api/v1/lessons"): Row(upload_into_branch_a, upload_lesson, mutates=True,
                                     check=uploaded_into_branch_a),
    ("POST", "/api/v1/lessons/{lesson_id}/review"): Row(review_expect, review, lesson=True, mutates=True,
                                                        not_found="lesson"),
    ("POST", "/api/v1/lessons/{lesson_id}/feature"): Row(feature_expect, feature, lesson=True, mutates=True,
                                                         not_found="lesson"),
    ("POST", "/api/v1/lessons/{lesson_id}/captions"): Row(captions_edit_expect, edit_captions, lesson=True,
                                                          mutates=True, not_found="lesson"),
    ("POST", "/api/v1/lessons/{lesson_id}/revisions"): Row(revision_expect, upload_revision, lesson=True,
                                                           mutates=True, not_found="lesson"),
    ("GET", "/api/v1/lessons/{lesson_id}/revisions"): Row(insiders_read, fetch("GET", LESSON + "/revisions"),
                                                          lesson=True, not_found="lesson"),
    ("PATCH", "/api/v1/lessons/{lesson_id}"): Row(details_edit_expect, edit_details, lesson=True, mutates=True,
                                                  not_found="lesson"),
    # Resumable uploads (tus): creating one is an upload; then its random URL is the capability to resume, ask
    # and cancel it, with or without a login (a phone finishes after its token ran out).
    ("OPTIONS", "/api/v1/uploads"): Row(public(204), fetch("OPTIONS", "/api/v1/uploads"), identifies=False),
    ("OPTIONS", "/api/v1/uploads/"): Row(public(204), fetch("OPTIONS", "/api/v1/uploads/"), identifies=False),
    ("OPTIONS", "/api/v1/uploads/{upload_id}"): Row(public(204), fetch("OPTIONS", "/api/v1/uploads/x"),
                                                    identifies=False),
    ("POST", "/api/v1/uploads"): Row(upload_into_branch_a, tus_create("/api/v1/uploads"), mutates=True),
    ("POST", "/api/v1/uploads/"): Row(upload_into_branch_a, tus_create("/api/v1/uploads/"), lesson=True,
                                      mutates=True, check=tus_revision_as_allowed),
    ("HEAD", "/api/v1/uploads/{upload_id}"): Row(public(200), tus_on_fresh_upload("HEAD", headers=TUS),
                                                 identifies=False),
    ("PATCH", "/api/v1/uploads/{upload_id}"): Row(public(204), tus_on_fresh_upload("PATCH", content=b"1234", headers={
        **TUS, **OCTET, "Upload-Offset": "0"}), mutates=True, identifies=False),
    ("DELETE", "/api/v1/uploads/{upload_id}"): Row(public(204), tus_on_fresh_upload("DELETE", headers=TUS),
                                                   mutates=True, identifies=False),
    # Pages.
    ("GET", "/"): Row(public(200), fetch("GET", "/"), check=home_lists_published_only),  # the library's home
    ("GET", "/lessons/{lesson_id}"): Row(lesson_read, fetch("GET", "/lessons/{lesson}"), lesson=True,
                                         check=library_page_as_allowed),
    ("GET", "/categories/{slug}"): Row(public(200), fetch("GET", "/categories/skills")),
    ("GET", "/series/{series_id}"): Row(public(200), on_library_page("series"), lesson=True,
                                        check=links_published_only),
    ("GET", "/speakers/{speaker_id}"): Row(public(200), on_library_page("speakers"), lesson=True,
                                           check=links_published_only),
    ("GET", "/branches/{org_id}"): Row(public(200), on_library_page("branches"), lesson=True,
                                       check=links_published_only),
    ("GET", "/search"): Row(public(200), on_library_page("search"), lesson=True, check=links_published_only),
    # Podcast feeds and the daily broadcast: public, the same for everybody (the feeds, the playlists and the
    # programmes read no credentials), published lessons only.
    ("GET", "/feeds/all.xml"): Row(public(200), on_air("/feeds/all.xml"), identifies=False,
                                   check=on_air_published_only),
    ("GET", "/feeds/series/{series_id}.xml"): Row(public(200), on_air("/feeds/series/{series}.xml"),
                                                  identifies=False, check=on_air_published_only),
    ("GET", "/feeds/categories/{slug}.xml"): Row(public(200), on_air("/feeds/categories/skills.xml"),
                                                 identifies=False, check=on_air_published_only),
    ("GET", "/feeds/artwork.png"): Row(public(200), fetch("GET", "/feeds/artwork.png"), identifies=False),
    ("GET", "/api/v1/broadcast/{day}"): Row(public(200), on_air("/api/v1/broadcast/{tomorrow}"), identifies=False,
                                            check=on_air_published_only),
    ("GET", "/broadcast/{day}.m3u"): Row(public(200), on_air("/broadcast/{tomorrow}.m3u"), identifies=False,
                                         check=on_air_published_only),
    ("GET", "/broadcast"): Row(public(200), on_air("/broadcast"), check=on_air_published_only),
    # Audio packs hold only published lessons: anybody lists them and downloads a ready one; the county's staff and
    # the townships' organisers make and rebuild them. (No worker runs here: a new pack stays building.)
    ("GET", "/api/v1/packs"): Row(public(200), fetch("GET", "/api/v1/packs"), identifies=False),
    ("POST", "/api/v1/packs"): Row(pack_create_expect, pack_of_states_lesson, lesson=True, mutates=True),
    ("GET", "/api/v1/packs/{pack_id}"): Row(public(200), on_pack("GET"), identifies=False),
    ("GET", "/api/v1/packs/{pack_id}/download"): Row(public(409), on_pack("GET", "/download"), identifies=False),
    ("POST", "/api/v1/packs/{pack_id}/rebuild"): Row(pack_makers(409), on_pack("POST", "/rebuild"), mutates=True),
    ("GET", "/packs"): Row(public(200), on_pack("GET", at="/packs", suffix="")),
    ("GET", "/packs/{pack_id}"): Row(public(200), on_pack("GET", at="/packs/{pack}")),
    ("GET", "/packs/new"): Row(pack_page_makers(200), fetch("GET", "/packs/new")),
    # An empty form: refused with the form shown again (422) to those who may make packs.
    ("POST", "/packs/new"): Row(pack_page_makers(422), fetch("POST", "/packs/new", data={}), mutates=True),
    ("POST", "/packs/{pack_id}/rebuild"): Row(pack_page_makers(409), on_pack("POST", at="/packs/{pack}/rebuild"),
                                             mutates=True),
    ("GET", "/feeds/packs/{pack_id}.xml"): Row(public(200), on_pack("GET", at="/feeds/packs/{pack}.xml"),
                                               identifies=False, check=on_air_published_only),
    # Popularity: a play of a published lesson counts (nobody's credentials read); anything else is not found.
    ("POST", "/api/v1/lessons/{lesson_id}/plays"): Row(lambda who, state: 204 if state == "published" else 404,
                                                       fetch("POST", LESSON + "/plays"), lesson=True,
                                                       identifies=False, not_found="lesson"),
    ("GET", "/login"): Row(lambda who, state: 200 if who.anonymous else 303, fetch("GET", "/login")),
    ("POST", "/login"): Row(public(303), login_form, mutates=True),
    ("POST", "/logout"): Row(public(303), fetch("POST", "/logout", data={"csrf_token": ""}), mutates=True),
    ("GET", "/upload"): Row(upload_page_expect, fetch("GET", "/upload"), lesson=True, check=revision_page_as_allowed),
    ("GET", "/my-uploads"): Row(lambda who, state: 303 if who.anonymous else 200, fetch("GET", "/my-uploads")),
    ("GET", "/review"): Row(desk_expect, fetch("GET", "/review")),
    ("GET", "/review/{lesson_id}"): Row(desk_expect, fetch("GET", "/review/{lesson}"), lesson=True),
    # The organisers' reports: the county's staff see the county or any township, an organiser their township
    # (another is 404, as one that does not exist), uploaders are refused.
    ("GET", "/api/v1/reports/branches"): Row(report_readers(200), fetch("GET", "/api/v1/reports/branches"),
                                             check=report_in_scope),
    ("GET", "/api/v1/reports/reminder"): Row(report_readers(200), fetch("GET", "/api/v1/reports/reminder"),
                                             check=report_in_scope),
    ("GET", "/reports"): Row(report_pages, fetch("GET", "/reports"), check=report_in_scope),
    ("GET", "/reports/reminder"): Row(report_pages, fetch("GET", "/reports/reminder"), check=report_in_scope),
    # Members' stars (十佳党课), with ratings switched on: any account, a published lesson it sees; the ranking
    # is public (published lessons only) and reads no credentials.
    ("PUT", "/api/v1/lessons/{lesson_id}/rating"): Row(rate_expect, with_ratings(fetch("PUT", LESSON + "/rating",
                                                                                      json={"stars": 4})),
                                                       lesson=True, mutates=True, not_found="lesson"),
    ("GET", "/api/v1/lessons/{lesson_id}/rating"): Row(lesson_read, with_ratings(fetch("GET", LESSON + "/rating")),
                                                       lesson=True, not_found="lesson"),
    ("GET", "/api/v1/ratings/ranking"): Row(public(200), with_ratings(fetch("GET", "/api/v1/ratings/ranking")),
                                            identifies=False),
    ("POST", "/lessons/{lesson_id}/rating"): Row(rate_page_expect, with_ratings(fetch(
        "POST", "/lessons/{lesson}/rating", data={"stars": "4", "csrf_token": ""})), lesson=True, mutates=True),
}


def route_keys(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of everything the app answers; mounted apps as ("MOUNT", path)."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)  # newer FastAPI keeps included routers nested
    routes: list[Any] = list(flatten(app.routes)) if flatten else list(app.routes)
    found: set[tuple[str, str]] = set()
    for route in routes:
        original = getattr(route, "original_route", route)
        if isinstance(original, Mount):
            found.add(("MOUNT", route.path))
            continue
        methods = set(getattr(route, "methods", None) or {type(original).__name__})
        if "GET" in methods:
            methods.discard("HEAD")  # Starlette answers HEAD wherever it answers GET
        found |= {(method, route.path) for method in methods}
    return found


def test_every_route_has_a_row_in_the_matrix(tmp_path: Any) -> None:
    present = route_keys(create_app(Settings(data_dir=tmp_path)))
    assert len(present) > 30
    missing = sorted(present - set(ROWS))
    assert not missing, f"routes without a permission decision (add a row to ROWS): {missing}"
    stale = sorted(set(ROWS) - present)
    assert not stale, f"rows for routes the app no longer has: {stale}"


@pytest.fixture
def world(stack_settings: Settings) -> Iterator[World]:
    settings = stack_settings
    app = create_app(settings)
    # A crash is one more case that differs (500), not the end of the run.
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        tokens = {}
        for who in ACCOUNTS:
            make_account(settings, who.name, who.role or "", who.org)
            tokens[who.name] = token_for(client, who.name)
        claims = jwt.decode(tokens[REVIEWER.name], options={"verify_signature": False})
        tokens[FORGED.name] = jwt.encode(claims, "another key, long enough for HS256 " * 2, algorithm="HS256")
        w = World(settings, app, client, tokens)
        w.lessons = {state: make_lesson(settings, title=f"东风村 {STATE_WORDS[state]}", state=state,
                                        words=STATE_WORDS[state]) for state in STATES}
        w.missing = {"lesson": client.get(f"/api/v1/lessons/{uuid.uuid4().hex}").json(),
                     "asset": client.get(f"/api/v1/assets/{uuid.uuid4().hex}/content").json()}
        assert w.missing["lesson"]["code"] == "lesson_not_found" and w.missing["asset"]["code"] == "asset_not_found"
        w.served = 200 if context_for(settings).storage.local_path("x") is not None else 307
        yield w
        w.http.close()


def run_case(w: World, key: tuple[str, str], row: Row, who: Who, state: str) -> list[str]:
    as_who = ANONYMOUS if who.forged else who
    expected = 401 if who.forged and row.identifies else row.expect(as_who, state)
    expected = w.served if expected == SERVED else expected
    w.fresh = None
    r = row.call(w, who, state)
    where = f"{key[0]} {key[1]} as {who.name}" + (f" on a {state} lesson" if row.lesson else "")
    if r.status_code != expected:
        return [f"{where}: {r.status_code}, expected {expected}: {r.text[:200]}"]
    json_body = r.headers.get("content-type", "").startswith("application/json")
    problems = []
    if r.status_code == 401 and not r.headers.get("www-authenticate", "").startswith("Bearer"):
        problems.append("401 without a Bearer challenge")
    if r.status_code == 403 and json_body and r.json().get("code") != "forbidden":
        problems.append(f"403 with code {r.json().get('code')}")
    if r.status_code == 404 and row.not_found and r.json() != w.missing[row.not_found]:
        problems.append(f"404 unlike a missing {row.not_found}'s: {r.json()}")
    if w.fresh is not None:
        lesson_id, before = w.fresh
        after = w.as_made(lesson_id)
        changed = after != before
        if changed != (200 <= r.status_code < 300):
            problems.append(f"the lesson {'changed' if changed else 'did not change'} ({before} -> {after})")
    if row.check is not None:
        problems += row.check(w, who, state, r)
    return [f"{where}: {p}" for p in problems]


def test_every_route_answers_each_caller_as_the_matrix_says(world: World) -> None:
    present = route_keys(world.app)
    problems: list[str] = []
    cases = 0
    # Reads first, on the five matrix lessons; then changes, each on a fresh lesson or upload.
    for key, row in sorted(ROWS.items(), key=lambda item: item[1].mutates):
        if key not in present:
            continue  # test_every_route_has_a_row_in_the_matrix says so
        for who in (*VIEWERS, FORGED):
            for state in STATES if row.lesson else ("published",):
                problems += run_case(world, key, row, who, state)
                world.case_done()
                cases += 1
    assert cases > 300
    assert not problems, f"{len(problems)} of {cases} cases differ:\n" + "\n".join(problems)


# The lists, searches and assets, over lessons of every branch in every review state.

LESSONS: dict[str, tuple[str | None, str | None]] = {  # name -> (branch, review state)
    "东风村 待审": (BRANCH_A, "awaiting_review"),
    "东风村 已发布": (BRANCH_A, "published"),
    "东风村 退回": (BRANCH_A, "rejected"),
    "东风村 待修改": (BRANCH_A, "revision_requested"),
    "东风村 已撤下": (BRANCH_A, "withdrawn"),
    "东风村 处理中": (BRANCH_A, None),
    "渔港 待审": ("渔港社区党支部", "awaiting_review"),
    "渔港 已发布": ("渔港社区党支部", "published"),
    "西岭村 待审": ("西岭村党支部", "awaiting_review"),
    "海上 退回": ("海上党支部", "rejected"),
    "海上 已发布": ("海上党支部", "published"),
    "县里 待审": (None, "awaiting_review"),  # imported without a branch: the county's
}
UPLOADED_BY = {"东风村 待审": UPLOADER_A, "东风村 已发布": UPLOADER_A, "渔港 待审": UPLOADER_B, "西岭村 待审": REVIEWER}


def _ids(r: Reply, key: str = "id") -> set[str]:
    assert r.status_code == 200, r.text
    return {item[key] for item in r.json()["items"]}


def test_lists_searches_and_assets_show_each_caller_only_what_they_may_see(world: World) -> None:
    w = world
    accounts = {who.name: w.account_id(who) for who in ACCOUNTS}
    made = {name: make_lesson(w.settings, title=name, state=state, branch=branch,
                              uploaded_by=accounts[UPLOADED_BY[name].name] if name in UPLOADED_BY else None,
                              status=LessonStatus.PROCESSING if state is None else LessonStatus.READY)
            for name, (branch, state) in LESSONS.items()}
    # Only these lessons count: the matrix's three are left out by their own words.
    name_of = {m.id: name for name, m in made.items()}

    def names(ids: set[str]) -> set[str]:
        return {name_of[i] for i in ids if i in name_of}

    engine = context_for(w.settings).engine
    for who in VIEWERS:
        expected = {name for name, (branch, state) in LESSONS.items() if who.sees(state, branch)}
        # The rules in catalog/lifecycle.py say the same as the table.
        with unit_of_work(engine) as s:
            account = get_account(s, who.name)
            viewer = viewer_of(account) if account else NOBODY
            for name, m in made.items():
                lesson = get_lesson(s, m.id)
                assert lesson is not None
                facts = lesson_facts(s, lesson)
                branch = LESSONS[name][0]
                assert can_see(viewer, facts) == (name in expected), (who.name, name)
                assert is_insider(viewer, facts) == who.insider_of(branch), (who.name, name)

        listed = w.request(who, "GET", "/api/v1/lessons", params={"limit": 200, "q": "党课"})
        assert names(_ids(listed)) == expected, who.name
        assert listed.json()["total"] == len(expected), who.name
        assert names(_ids(w.request(who, "GET", "/api/v1/lessons", params={"limit": 200}))) == expected, who.name
        hits = w.request(who, "GET", "/api/v1/transcripts/search", params={"q": "党课", "limit": 200})
        assert names(_ids(hits, "lesson_id")) == expected and hits.json()["total"] == len(expected), who.name
        # Filters cannot reach past visibility.
        awaiting = w.request(who, "GET", "/api/v1/lessons", params={"review_state": "awaiting_review", "limit": 200})
        assert names(_ids(awaiting)) == {n for n in expected if LESSONS[n][1] == "awaiting_review"}, who.name
        with unit_of_work(engine) as s:
            branch_a_id = branch_for_name(s, BRANCH_A).id
        of_a = w.request(who, "GET", "/api/v1/lessons", params={"branch_id": branch_a_id, "limit": 200})
        assert names(_ids(of_a)) == {n for n in expected if LESSONS[n][0] == BRANCH_A}, who.name
        for name, m in made.items():
            branch, state = LESSONS[name]
            sees, insider = name in expected, who.insider_of(branch)
            detail = w.request(who, "GET", f"/api/v1/lessons/{m.id}")
            assert detail.status_code == (200 if sees else 404), (who.name, name)
            if not sees:
                assert detail.json() == w.missing["lesson"]
            elif not insider:
                body = detail.json()
                assert "original" not in [a["kind"] for a in body["assets"]], (who.name, name)
                assert body["sha256"] is body["original_filename"] is None and body["jobs"] == [], (who.name, name)
                assert m.original not in detail.text and m.sha256 not in detail.text, (who.name, name)
            rendition = w.request(who, "GET", f"/api/v1/assets/{m.rendition}/content")
            assert rendition.status_code == (w.served if sees else 404), (who.name, name)
            original = w.request(who, "GET", f"/api/v1/assets/{m.original}/content")
            assert original.status_code == (w.served if insider else 404), (who.name, name)
            if not insider:
                assert original.json() == w.missing["asset"]
            if not insider:
                assert m.sha256 not in listed.text and m.original not in listed.text

    # In words: a branch's lesson is listed for its uploaders and not for another branch's; a township's organiser
    # sees both its branches' unpublished lessons and none of another township's.
    def listed_names(who: Who) -> set[str]:
        return names(_ids(w.request(who, "GET", "/api/v1/lessons", params={"limit": 200})))

    assert {"东风村 待审", "东风村 退回"} <= listed_names(UPLOADER_A)
    assert not {"东风村 待审", "东风村 退回"} & listed_names(UPLOADER_B)
    assert {"东风村 待审", "渔港 待审", "东风村 处理中"} <= listed_names(ORGANISER_A)
    assert not {"西岭村 待审", "海上 退回", "县里 待审"} & listed_names(ORGANISER_A)
    assert {"西岭村 待审", "海上 退回"} <= listed_names(ORGANISER_B)
    assert listed_names(ANONYMOUS) == {"东风村 已发布", "渔港 已发布", "海上 已发布"}

    # ?mine=1: what the caller uploaded, of what they may see; nothing for nobody.
    def mine(who: Who) -> set[str]:
        return names(_ids(w.request(who, "GET", "/api/v1/lessons", params={"mine": 1, "limit": 200})))

    assert mine(UPLOADER_A) == {"东风村 待审", "东风村 已发布"}
    assert mine(UPLOADER_B) == {"渔港 待审"}
    assert mine(REVIEWER) == {"西岭村 待审"}
    assert mine(ORGANISER_A) == set() and mine(ADMIN) == set()
    anonymous_mine = w.request(ANONYMOUS, "GET", "/api/v1/lessons", params={"mine": 1})
    assert anonymous_mine.status_code == 200 and anonymous_mine.json()["total"] == 0
