"""Podcast feeds (api/feeds.py, api/routes/feeds.py): RSS 2.0 with the iTunes namespace that feedparser reads
without complaint, every published lesson's audio edition as an enclosure with its exact size and type at a URL
that returns exactly those bytes, `podcast:transcript` links that resolve, nothing unpublished in any feed, GUIDs
that survive a restart, a re-encoded audio edition and a new title, hostile titles as text, WEIKE_PUBLIC_URL, and
ETag/304. On both stacks (SQLite with a folder store, PostgreSQL with S3) where the storage matters.

The lessons are made in the catalog with real MP3s, posters and subtitles made by ffmpeg (the helpers here serve
tests/api/test_broadcast.py and tests/catalog/test_broadcast_programme.py too); one is made by the pipeline's own
probe and audio steps."""

from __future__ import annotations

import hashlib
import re
import struct
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.feeds import ATOM, ITUNES, PODCAST, FeedChannel, FeedItem, render_feed, xml_text
from catalog.assets import AssetFacts, record_asset
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, create_lesson, get_lesson
from catalog.models import AssetKind, LessonStatus, ReviewState, Series, utcnow
from catalog.organisations import branch_for_name
from ingest import keys
from tests.support.accounts import import_county, make_account, token_for
from tests.support.media import ffprobe_json, run_tool
from tests.support.services import require_tool
from workers.settings import Settings
from workers.wiring import context_for

HOSTILE = ']]><script>alert("x")</script>&amp; <item><title>注入</title></item>\x01\x08\x0b\x1b\x7f'
RSS_TYPE = "application/rss+xml; charset=utf-8"


# --- lessons on air, made with real media (shared with the broadcast tests) ---------------------------------------


@dataclass(frozen=True)
class OnAirMedia:
    audio: tuple[Path, ...]  # MP3s of about 4, 5, 6 and 7 s
    durations: dict[Path, float]
    poster: Path
    srt: Path
    vtt: Path
    wav: Path  # a short recording for the pipeline's own steps


@pytest.fixture(scope="module")
def on_air_media(tmp_path_factory: pytest.TempPathFactory) -> OnAirMedia:
    require_tool("ffmpeg")
    out = tmp_path_factory.mktemp("on-air")
    audio = []
    for seconds in (4, 5, 6, 7):
        path = out / f"audio-{seconds}s.mp3"
        run_tool("ffmpeg", "-f", "lavfi", "-i", f"sine=f={180 + 40 * seconds}:d={seconds}", "-ac", "1",
                 "-c:a", "libmp3lame", "-b:a", "32k", path)
        audio.append(path)
    run_tool("ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=640x360:d=1", "-frames:v", "1", out / "poster.jpg")
    run_tool("ffmpeg", "-f", "lavfi", "-i", "sine=f=300:d=3", "-ac", "1", out / "voice.wav")
    (out / "subtitles.srt").write_text("1\n00:00:00,000 --> 00:00:03,000\n同志们好，今天讲一堂党课。\n",
                                       encoding="utf-8")
    (out / "subtitles.vtt").write_text("WEBVTT\n\n00:00:00.000 --> 00:00:03.000\n同志们好，今天讲一堂党课。\n",
                                       encoding="utf-8")
    durations = {p: float(ffprobe_json(p)["format"]["duration"]) for p in audio}
    return OnAirMedia(tuple(audio), durations, out / "poster.jpg", out / "subtitles.srt", out / "subtitles.vtt",
                      out / "voice.wav")


def make_on_air_lesson(settings: Settings, media: OnAirMedia, title: str, *, state: str | None = "published",
                       audio: int | None = 0, poster: bool = False, captions: bool = False,
                       branch: str | None = "东风村党支部", category: str = "skills", series_id: int | None = None,
                       episode: int | None = None, featured: bool = False, published_at: datetime | None = None,
                       description: str | None = None, speaker: str | None = "李书记") -> str:
    """A processed lesson whose files are real and in the stack's storage: `audio` picks one of the MP3s as its
    audio edition (None: it has none), with a poster and SRT/WebVTT subtitles if asked; published at
    `published_at` (default: now) when `state` is published."""
    ctx = context_for(settings)
    digest = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    with unit_of_work(ctx.engine) as s:
        lesson = create_lesson(s, fields=LessonFields(title=title, category=category, speaker=speaker),
                               original_key=keys.original(digest), original_sha256=digest, size_bytes=1000,
                               original_filename="录音.m4a",
                               branch_id=branch_for_name(s, branch).id if branch else None)
        lesson.status, lesson.progress, lesson.review_state = LessonStatus.READY, 100, state
        lesson.media_kind, lesson.featured, lesson.description = "audio", featured, description
        lesson.series_id, lesson.episode = series_id, episode
        if state == ReviewState.PUBLISHED:
            lesson.published_at = published_at or utcnow()
            lesson.created_at = min(lesson.created_at, lesson.published_at)
        files: list[tuple[AssetKind, Path, str]] = []
        if audio is not None:
            files.append((AssetKind.AUDIO_EDITION, media.audio[audio], "audio/mpeg"))
            lesson.duration_s = media.durations[media.audio[audio]]
        if poster:
            files.append((AssetKind.POSTER, media.poster, "image/jpeg"))
        if captions:
            files += [(AssetKind.SUBTITLES_SRT, media.srt, "application/x-subrip"),
                      (AssetKind.SUBTITLES_VTT, media.vtt, "text/vtt")]
        for kind, path, mime in files:
            stored = ctx.storage.put(keys.lesson_asset(lesson.id, path.name), path, content_type=mime)
            record_asset(s, lesson.id, kind, AssetFacts(
                key=stored.key, mime_type=mime, size_bytes=stored.size_bytes, sha256=stored.sha256,
                duration_s=media.durations.get(path)))
        s.add(lesson)
        return lesson.id


def make_series(settings: Settings, title: str) -> int:
    with unit_of_work(context_for(settings).engine) as s:
        series = Series(title=title, description="一套讲给村干部听的系列课。")
        s.add(series)
        s.flush()
        assert series.id is not None
        return series.id


def set_state(settings: Settings, lesson_id: str, state: str) -> None:
    with unit_of_work(context_for(settings).engine) as s:
        lesson = get_lesson(s, lesson_id)
        assert lesson is not None
        lesson.review_state = state
        s.add(lesson)


def fetch_bytes(client: TestClient, url: str) -> bytes:
    """An absolute URL of this site fetched through the app, following the S3 store's presigned redirect."""
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    r = client.get(path, follow_redirects=False)
    if r.status_code == 307:
        return httpx.get(r.headers["location"]).content
    assert r.status_code == 200, (url, r.status_code, r.text[:200])
    return r.content


# --- fixtures -------------------------------------------------------------------------------------------------------


@pytest.fixture
def settings(stack_settings: Settings) -> Settings:
    import_county(stack_settings)
    return stack_settings


@pytest.fixture
def embedded(tmp_path: Path) -> Settings:
    from tests.support.stacks import build_embedded

    settings: Settings = build_embedded(tmp_path / "var")
    import_county(settings)
    return settings


def _client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as c:
        yield c


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    yield from _client(settings)


def parsed(r: Any) -> tuple[Any, ET.Element]:
    """The feed as feedparser and ElementTree see it; neither may complain."""
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"] == RSS_TYPE
    feed = feedparser.parse(r.content, response_headers={"content-type": r.headers["content-type"]})
    assert not feed.bozo, feed.get("bozo_exception")
    return feed, ET.fromstring(r.content)


def guids(root: ET.Element) -> list[str]:
    return [g.text or "" for g in root.iter("guid")]


def guid(lesson_id: str) -> str:
    return f"urn:weike:lesson:{lesson_id}"


# --- tests ----------------------------------------------------------------------------------------------------------


def test_feeds_carry_every_published_audio_edition_and_nothing_else(
        client: TestClient, settings: Settings, on_air_media: OnAirMedia) -> None:
    series = make_series(settings, "乡村振兴十五讲")
    now = utcnow()
    first = make_on_air_lesson(settings, on_air_media, "第一讲 总论", audio=0, poster=True, captions=True,
                               series_id=series, episode=1, published_at=now - timedelta(days=3),
                               description="讲乡村振兴的总要求。")
    second = make_on_air_lesson(settings, on_air_media, "第二讲 人才", audio=1, series_id=series, episode=2,
                                published_at=now - timedelta(days=1))
    theory = make_on_air_lesson(settings, on_air_media, "理论课", audio=2, category="theory", branch="海上党支部",
                                published_at=now - timedelta(days=2))
    no_audio = make_on_air_lesson(settings, on_air_media, "只有视频的课", audio=None, series_id=series)
    hidden = {state: make_on_air_lesson(settings, on_air_media, f"未公开 {state}", state=state, audio=3,
                                        series_id=series, poster=True, captions=True)
              for state in ("awaiting_review", "rejected", "revision_requested", "withdrawn", None)}

    feed, root = parsed(client.get("/feeds/all.xml"))
    assert feed.feed.title == "县级微党课片库" and feed.feed.link == "http://testserver/"
    assert feed.feed.subtitle and feed.feed.language == "zh-cn"
    assert feed.feed.image.href == "http://testserver/feeds/artwork.png"
    assert feed.feed.author == "县委党员教育中心"
    assert {"Education", "Courses", "Government"} <= {t.term for t in feed.feed.tags}
    channel = root.find("channel")
    assert channel is not None and channel.find(f"{{{ITUNES}}}explicit") is not None
    assert channel.find("lastBuildDate") is not None
    # Newest first; the lesson without an audio edition and every unpublished one left out.
    assert guids(root) == [guid(second), guid(theory), guid(first)]
    assert [e.id for e in feed.entries] == guids(root)
    for lesson_id in [no_audio, *hidden.values()]:
        assert lesson_id not in client.get("/feeds/all.xml").text
    published = {e.id: e for e in feed.entries}
    stored = {guid(first): on_air_media.audio[0], guid(second): on_air_media.audio[1],
              guid(theory): on_air_media.audio[2]}
    for entry_id, path in stored.items():
        [enclosure] = published[entry_id].enclosures
        assert enclosure.type == "audio/mpeg" and int(enclosure.length) == path.stat().st_size
        assert enclosure.href.startswith("http://testserver/api/v1/assets/")
        assert fetch_bytes(client, enclosure.href) == path.read_bytes()
        assert abs(int(published[entry_id].itunes_duration) - on_air_media.durations[path]) <= 1
        assert parsedate_to_datetime(published[entry_id].published) is not None
    entry = published[guid(first)]
    assert entry.title == "第一讲 总论" and entry.link == f"http://testserver/lessons/{first}"
    assert "讲乡村振兴的总要求。" in entry.summary and "李书记" in entry.summary
    assert fetch_bytes(client, entry.image.href) == on_air_media.poster.read_bytes()
    # Transcripts: the published SRT and WebVTT, both resolving to their bytes.
    [item] = [i for i in root.iter("item") if i.findtext("guid") == guid(first)]
    transcripts = {t.get("type"): t for t in item.iter(f"{{{PODCAST}}}transcript")}
    assert set(transcripts) == {"application/x-subrip", "text/vtt"}
    assert all(t.get("language") == "zh-cn" for t in transcripts.values())
    assert fetch_bytes(client, transcripts["application/x-subrip"].get("url", "")) == on_air_media.srt.read_bytes()
    assert fetch_bytes(client, transcripts["text/vtt"].get("url", "")) == on_air_media.vtt.read_bytes()

    # A series' feed: its published episodes, serial, linked to its page; a category's: its lessons.
    feed, root = parsed(client.get(f"/feeds/series/{series}.xml"))
    assert guids(root) == [guid(second), guid(first)]
    assert feed.feed.title.startswith("乡村振兴十五讲") and feed.feed.link == f"http://testserver/series/{series}"
    assert root.findtext(f"channel/{{{ITUNES}}}type") == "serial"
    assert [i.findtext(f"{{{ITUNES}}}episode") for i in root.iter("item")] == ["2", "1"]
    feed, root = parsed(client.get("/feeds/categories/theory.xml"))
    assert guids(root) == [guid(theory)] and feed.feed.link == "http://testserver/categories/theory"
    for path in (f"/feeds/series/{series}.xml", "/feeds/categories/skills.xml"):
        text = client.get(path).text
        assert not any(lesson_id in text for lesson_id in [no_audio, *hidden.values()]), path
    # Withdrawing a published lesson takes it out of every feed.
    set_state(settings, second, "withdrawn")
    for path in ("/feeds/all.xml", f"/feeds/series/{series}.xml", "/feeds/categories/skills.xml"):
        assert second not in client.get(path).text, path


def test_guids_survive_a_restart_a_reencoded_audio_edition_and_a_new_title(embedded: Settings,
                                                                             on_air_media: OnAirMedia) -> None:
    """The lesson goes through the pipeline's own probe and audio steps, and the audio step runs again."""
    from catalog import jobs
    from workers.intake import admit_stream
    from workers.pipeline import execute_step
    from workers.steps import STEP_FUNCTIONS

    ctx = context_for(embedded)
    with on_air_media.wav.open("rb") as fh:
        lesson_id = admit_stream(ctx, fh, filename="方言课.wav", fields=LessonFields(title="方言党课")).lesson.id
    execute_step(ctx, lesson_id, "probe", STEP_FUNCTIONS["probe"])
    execute_step(ctx, lesson_id, "audio_edition", STEP_FUNCTIONS["audio_edition"])
    set_state(embedded, lesson_id, "published")
    with unit_of_work(ctx.engine) as s:
        lesson = get_lesson(s, lesson_id)
        assert lesson is not None
        lesson.published_at = utcnow()
        s.add(lesson)

    def item_of(client: TestClient) -> tuple[ET.Element, Any]:
        feed, root = parsed(client.get("/feeds/all.xml"))
        [item] = list(root.iter("item"))
        return item, feed.entries[0].enclosures[0]

    with TestClient(create_app(embedded)) as client:
        before, enclosure = item_of(client)
        assert before.findtext("guid") == guid(lesson_id) and before.find("guid").get("isPermaLink") == "false"  # type: ignore[union-attr]
        assert len(fetch_bytes(client, enclosure.href)) == int(enclosure.length)
    with TestClient(create_app(embedded)) as client:  # a restart
        assert item_of(client)[0].findtext("guid") == guid(lesson_id)
        with unit_of_work(ctx.engine) as s:  # the audio edition made again
            jobs.restart_jobs(s, lesson_id, {"audio_edition": "media"})
        execute_step(ctx, lesson_id, "audio_edition", STEP_FUNCTIONS["audio_edition"])
        make_account(embedded, "wang", "reviewer")
        r = client.patch(f"/api/v1/lessons/{lesson_id}", json={"title": "方言党课（修订）"},
                         headers={"Authorization": f"Bearer {token_for(client, 'wang')}"})
        assert r.status_code == 200, r.text
        after, enclosure = item_of(client)
        assert after.findtext("guid") == guid(lesson_id) and after.findtext("title") == "方言党课（修订）"
        assert len(fetch_bytes(client, enclosure.href)) == int(enclosure.length)


def test_hostile_titles_and_descriptions_stay_text_in_well_formed_feeds(
        client: TestClient, settings: Settings, on_air_media: OnAirMedia) -> None:
    series = make_series(settings, HOSTILE)
    lesson_id = make_on_air_lesson(settings, on_air_media, HOSTILE, series_id=series, description=HOSTILE,
                                   speaker="<b>李书记</b>&")
    for path in ("/feeds/all.xml", f"/feeds/series/{series}.xml", "/feeds/categories/skills.xml"):
        feed, root = parsed(client.get(path))
        [item] = list(root.iter("item"))  # nothing injected
        assert root.find("channel/item/item") is None and root.find(".//script") is None
        assert item.findtext("guid") == guid(lesson_id)
        title = item.findtext("title") or ""
        assert "<script>" in title and "]]>" in title and "\x01" not in title and "\x7f" not in title
        assert feed.entries[0].title.startswith("]]>")
    _, root = parsed(client.get(f"/feeds/series/{series}.xml"))
    assert (root.findtext("channel/title") or "").startswith(']]><script>alert("x")')


def test_characters_xml_forbids_are_dropped() -> None:
    assert xml_text("a\x00b\x01c\x0bd\ufffe\uffff\ud800e\x85f\tg\nh\U0001F600") == "abcdef\tg\nh\U0001F600"
    when = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    item = FeedItem(guid="urn:weike:lesson:x", title="\ud800\x00标题]]>", page_url="https://a/lessons/x",
                    description="\x1b描述 <p>", author="李", published_at=when, updated_at=when,
                    audio_url="https://a/x\x00.mp3", audio_bytes=10, audio_type="audio/mpeg", duration_s=3.4)
    body = render_feed(FeedChannel(title="频道\x02", description="说明", page_url="https://a/", feed_url="https://a/f",
                                   image_url="https://a/i.png"), [item])
    root = ET.fromstring(body)
    assert root.findtext("channel/item/title") == "标题]]>" and root.findtext("channel/title") == "频道"
    assert root.find("channel/item/enclosure").get("url") == "https://a/x.mp3"  # type: ignore[union-attr]
    assert not feedparser.parse(body).bozo


def test_public_url_overrides_the_host_the_request_came_to(tmp_path: Path, on_air_media: OnAirMedia) -> None:
    from tests.support.stacks import build_embedded

    settings = build_embedded(tmp_path / "var", public_url="https://weike.example.gov.cn/")
    import_county(settings)
    make_on_air_lesson(settings, on_air_media, "合作社带富路", poster=True, captions=True)
    with TestClient(create_app(settings)) as client:
        body = client.get("/feeds/all.xml", headers={"Host": "evil.example"}).text
    urls = [u for u in re.findall(r"https?://[^\"<\s]+", body) if u not in (ATOM, ITUNES, PODCAST)]
    assert len(urls) >= 9 and all(u.startswith("https://weike.example.gov.cn/") for u in urls), urls
    plain = build_embedded(tmp_path / "other")
    with TestClient(create_app(plain)) as client:
        body = client.get("/feeds/all.xml", headers={"Host": "weike.county.example:8080"}).text
    assert '<atom:link href="http://weike.county.example:8080/feeds/all.xml"' in body


def test_an_unchanged_feed_is_a_304_and_a_new_lesson_changes_it(
        client: TestClient, settings: Settings, on_air_media: OnAirMedia) -> None:
    make_on_air_lesson(settings, on_air_media, "合作社带富路")
    for encoding in ("gzip", "identity"):
        first = client.get("/feeds/all.xml", headers={"Accept-Encoding": encoding})
        etag = first.headers["etag"]
        assert first.headers["cache-control"].startswith("public")
        again = client.get("/feeds/all.xml", headers={"Accept-Encoding": encoding, "If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert client.get("/feeds/all.xml", headers={"Accept-Encoding": "gzip"}).headers["content-encoding"] == "gzip"
    head = client.head("/feeds/all.xml", headers={"Accept-Encoding": "identity"})  # some apps ask first
    assert head.status_code == 200 and head.headers["etag"] == etag and head.content == b""
    make_on_air_lesson(settings, on_air_media, "新发布的课")
    changed = client.get("/feeds/all.xml", headers={"Accept-Encoding": "identity", "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag and "新发布的课" in changed.text


def test_an_unknown_series_or_category_is_a_404(embedded: Settings) -> None:
    with TestClient(create_app(embedded)) as client:
        for path in ("/feeds/series/999.xml", "/feeds/series/abc.xml", "/feeds/categories/nothing.xml"):
            r = client.get(path)
            assert r.status_code == 404 and r.json()["code"] == "not_found" and r.json()["message"], path


def test_the_artwork_is_a_square_png_of_1400_pixels(embedded: Settings) -> None:
    with TestClient(create_app(embedded)) as client:
        r = client.get("/feeds/artwork.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", r.content[16:24]) == (1400, 1400)


def test_library_pages_link_their_feeds(embedded: Settings, on_air_media: OnAirMedia) -> None:
    series = make_series(embedded, "党史小课堂")
    make_on_air_lesson(embedded, on_air_media, "一、开天辟地", series_id=series, episode=1)
    with TestClient(create_app(embedded)) as client:
        for page, feed in (("/", "/feeds/all.xml"), (f"/series/{series}", f"/feeds/series/{series}.xml"),
                           ("/categories/skills", "/feeds/categories/skills.xml")):
            html = client.get(page).text
            assert '<link rel="alternate" type="application/rss+xml"' in html and f'href="{feed}"' in html, page
            assert f'id="subscribe" class="button small" href="{feed}"' in html and "订阅" in html, page
            assert client.get(feed).status_code == 200
