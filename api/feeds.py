"""Podcast feeds of published lessons' audio editions: RSS 2.0 with the iTunes namespace (channel artwork, author,
category; per episode its length, poster and number) and Podcasting 2.0's `podcast:transcript` (the published SRT
and WebVTT), for podcast apps and for the county's own players. No route here: api/routes/feeds.py serves the
library's feeds, and any list of lessons (a pack's) makes one with

    items = feed_items(session, on_air_lessons(session, lesson_ids=…), base_url=site_url(request, settings))
    return feed_response(request, render_feed(FeedChannel(…), items))

The XML is built with ElementTree, never by formatting strings: titles, descriptions and captions are whatever an
uploader typed (`]]>`, `<script>`, `&`), and everything passes through `xml_text`, which drops the characters
XML 1.0 forbids (control characters, lone surrogates, U+FFFE/U+FFFF). An episode's GUID is its lesson's id, so
re-rendering, restarting, re-encoding the audio or renaming the lesson never makes an app download it twice; the
body depends on nothing but the rows (no build time in it), so its ETag changes only when the feed does.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import lru_cache

from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from api.presenters import asset_url
from catalog.broadcast import OnAir
from catalog.models import Asset, AssetKind, Category, Organisation
from workers.settings import Settings

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
ATOM = "http://www.w3.org/2005/Atom"
PODCAST = "https://podcastindex.org/namespace/1.0"
for _prefix, _uri in (("itunes", ITUNES), ("atom", ATOM), ("podcast", PODCAST)):
    ET.register_namespace(_prefix, _uri)

FEED_TYPE = "application/rss+xml; charset=utf-8"
FEED_MAX_AGE_S = 300  # an hourly poll costs a 304; a new lesson shows within five minutes behind a cache
AUTHOR = "县委党员教育中心"
LANGUAGE = "zh-cn"
# Apple's categories: 教育 › 课程 first, 政府 second.
CATEGORIES: tuple[tuple[str, str | None], ...] = (("Education", "Courses"), ("Government", None))
ARTWORK_PATH = "/feeds/artwork.png"
TRANSCRIPT_KINDS = (AssetKind.SUBTITLES_SRT, AssetKind.SUBTITLES_VTT)

_NOT_XML = re.compile("[^\t\n\r\u0020-\u007e\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: object) -> str:
    """`value` as text XML 1.0 can carry: control characters (C0 but tab and newlines, DEL, C1), lone
    surrogates and U+FFFE/U+FFFF removed. ElementTree escapes the rest (&, <, >, quotes)."""
    return _NOT_XML.sub("", str(value))


def lesson_guid(lesson_id: str) -> str:
    """An episode's GUID: the lesson's id, which never changes, whatever happens to its title or files."""
    return f"urn:weike:lesson:{lesson_id}"


def site_url(request: Request, settings: Settings) -> str:
    """Where absolute links start: WEIKE_PUBLIC_URL, else the scheme and host the request came to."""
    return settings.public_url or str(request.base_url).rstrip("/")


@dataclass(frozen=True)
class FeedChannel:
    title: str
    description: str
    page_url: str  # absolute: the library page the feed follows
    feed_url: str  # absolute: the feed itself (atom:link rel="self")
    image_url: str  # absolute: square artwork, 1400 px or more
    author: str = AUTHOR
    serial: bool = False  # a series: apps offer its episodes in order
    updated_at: datetime | None = None  # lastBuildDate when there are no items


@dataclass(frozen=True)
class Transcript:
    url: str
    mime_type: str  # application/x-subrip or text/vtt


@dataclass(frozen=True)
class FeedItem:
    guid: str
    title: str
    page_url: str
    description: str
    author: str
    published_at: datetime
    updated_at: datetime
    audio_url: str
    audio_bytes: int
    audio_type: str
    duration_s: float
    image_url: str | None = None
    episode: int | None = None
    transcripts: tuple[Transcript, ...] = ()


def _description(lesson_description: str | None, facts: Sequence[str | None]) -> str:
    known = " · ".join(f for f in facts if f)
    if lesson_description and lesson_description.strip():
        return lesson_description.strip() + (f"\n\n{known}" if known else "")
    return known or "县级微党课片库"


def feed_items(session: Session, lessons: Sequence[OnAir], *, base_url: str) -> list[FeedItem]:
    """The episodes of these lessons, in their order: each one's audio edition with its exact size and type, its
    poster and its published subtitles (one query for those of all the lessons)."""
    ids = [o.lesson.id for o in lessons]
    extras: dict[tuple[str, str], list[Asset]] = {}
    if ids:
        for asset in session.exec(select(Asset).where(col(Asset.lesson_id).in_(ids), col(Asset.kind).in_(
                [AssetKind.POSTER, *TRANSCRIPT_KINDS])).order_by(col(Asset.id))).all():
            extras.setdefault((asset.lesson_id, asset.kind), []).append(asset)
    items = []
    for on_air in lessons:
        lesson, audio = on_air.lesson, on_air.audio
        branch = session.get(Organisation, lesson.branch_id) if lesson.branch_id else None
        category = session.get(Category, lesson.category_id) if lesson.category_id else None
        posters = extras.get((lesson.id, AssetKind.POSTER), [])
        poster = posters[0] if posters else None
        transcripts = tuple(Transcript(base_url + asset_url(a), a.mime_type) for kind in TRANSCRIPT_KINDS
                            for a in extras.get((lesson.id, kind), [])[:1])
        published_at = lesson.published_at or lesson.created_at
        items.append(FeedItem(
            guid=lesson_guid(lesson.id), title=lesson.title, page_url=f"{base_url}/lessons/{lesson.id}",
            description=_description(lesson.description, (
                f"主讲：{lesson.speaker}" if lesson.speaker else None, branch.name if branch else None,
                category.name if category else None)),
            author=lesson.speaker or (branch.name if branch else AUTHOR), published_at=published_at,
            updated_at=max(published_at, lesson.updated_at), audio_url=base_url + asset_url(audio),
            audio_bytes=audio.size_bytes, audio_type=audio.mime_type, duration_s=on_air.duration_s,
            image_url=base_url + asset_url(poster) if poster is not None else None,
            episode=lesson.episode if lesson.series_id is not None else None, transcripts=transcripts))
    return items


def _rfc822(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


def _add(parent: ET.Element, tag: str, value: object | None = None, **attrs: object) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if value is not None:
        element.text = xml_text(value)
    return element


def render_feed(channel: FeedChannel, items: Sequence[FeedItem]) -> bytes:
    """The feed as UTF-8 RSS 2.0: the channel, then the items in the order given (newest first, as apps expect)."""
    rss = ET.Element("rss", {"version": "2.0"})
    ch = _add(rss, "channel")
    _add(ch, "title", channel.title)
    _add(ch, "link", channel.page_url)
    _add(ch, "description", channel.description)
    _add(ch, "language", LANGUAGE)
    _add(ch, f"{{{ATOM}}}link", href=channel.feed_url, rel="self", type="application/rss+xml")
    updated = max((item.updated_at for item in items), default=channel.updated_at)
    if updated is not None:
        _add(ch, "lastBuildDate", _rfc822(updated))
    image = _add(ch, "image")
    _add(image, "url", channel.image_url)
    _add(image, "title", channel.title)
    _add(image, "link", channel.page_url)
    _add(ch, f"{{{ITUNES}}}image", href=channel.image_url)
    _add(ch, f"{{{ITUNES}}}author", channel.author)
    _add(ch, f"{{{ITUNES}}}summary", channel.description)
    for name, sub in CATEGORIES:
        category = _add(ch, f"{{{ITUNES}}}category", text=name)
        if sub:
            _add(category, f"{{{ITUNES}}}category", text=sub)
    _add(ch, f"{{{ITUNES}}}explicit", "false")
    _add(ch, f"{{{ITUNES}}}type", "serial" if channel.serial else "episodic")
    for item in items:
        it = _add(ch, "item")
        _add(it, "title", item.title)
        _add(it, "link", item.page_url)
        _add(it, "description", item.description)
        _add(it, "guid", item.guid, isPermaLink="false")
        _add(it, "pubDate", _rfc822(item.published_at))
        _add(it, "enclosure", url=item.audio_url, length=item.audio_bytes, type=item.audio_type)
        _add(it, f"{{{ITUNES}}}title", item.title)
        _add(it, f"{{{ITUNES}}}author", item.author)
        _add(it, f"{{{ITUNES}}}duration", max(0, round(item.duration_s)))
        if item.image_url:
            _add(it, f"{{{ITUNES}}}image", href=item.image_url)
        if item.episode is not None:
            _add(it, f"{{{ITUNES}}}episode", item.episode)
        _add(it, f"{{{ITUNES}}}episodeType", "full")
        _add(it, f"{{{ITUNES}}}explicit", "false")
        for transcript in item.transcripts:
            _add(it, f"{{{PODCAST}}}transcript", url=transcript.url, type=transcript.mime_type, language=LANGUAGE,
                 rel="captions")
    ET.indent(rss, space="  ")
    body: bytes = ET.tostring(rss, encoding="utf-8", xml_declaration=True)
    return body + b"\n"


def feed_response(request: Request, body: bytes, *, media_type: str = FEED_TYPE,
                  max_age_s: int = FEED_MAX_AGE_S, headers: dict[str, str] | None = None,
                  compress: bool = True) -> Response:
    """A cacheable answer that is the same for everybody: a strong ETag from the bytes (api/caching.py answers a
    matching If-None-Match with 304), gzip when the client takes it (an XML feed shrinks about tenfold)."""
    digest = hashlib.sha256(body).hexdigest()[:32]
    out = {"Cache-Control": f"public, max-age={max_age_s}", **(headers or {})}
    if compress:
        out["Vary"] = "Accept-Encoding"
    if compress and "gzip" in request.headers.get("accept-encoding", "") and len(body) >= 1024:
        body = gzip.compress(body, compresslevel=6, mtime=0)
        out["Content-Encoding"] = "gzip"
        digest += "-gz"  # another representation, another validator
    out["ETag"] = f'"{digest}"'
    return Response(body, media_type=media_type, headers=out)


# --- channel artwork -------------------------------------------------------------------------------------------

ARTWORK_PX = 1400  # Apple's smallest accepted square
_RED = bytes((0xB7, 0x1C, 0x1C))
_GOLD = bytes((0xF6, 0xD3, 0x65))


def _disc_span(y: float, cx: float, cy: float, radius: float) -> tuple[float, float] | None:
    dy = y - cy
    if abs(dy) >= radius:
        return None
    half = math.sqrt(radius * radius - dy * dy)
    return cx - half, cx + half


def _polygon_span(y: float, corners: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """Where the row crosses a convex polygon."""
    xs = [x0 + (y - y0) * (x1 - x0) / (y1 - y0)
          for (x0, y0), (x1, y1) in zip(corners, [*corners[1:], corners[0]], strict=True)
          if (y0 <= y < y1) or (y1 <= y < y0)]
    return (min(xs), max(xs)) if len(xs) >= 2 else None


@lru_cache(maxsize=1)
def artwork_png() -> bytes:
    """The feeds' square artwork, drawn here so that no picture has to be kept anywhere: a gold "play" button
    (a ring around a triangle) on the library's red, each shape filled row by row."""
    size = ARTWORK_PX
    c = size / 2
    triangle = [(c - 0.12 * size, c - 0.17 * size), (c + 0.18 * size, c), (c - 0.12 * size, c + 0.17 * size)]
    layers: list[tuple[bytes, Callable[[float], tuple[float, float] | None]]] = [
        (_GOLD, lambda y: _disc_span(y, c, c, 0.38 * size)), (_RED, lambda y: _disc_span(y, c, c, 0.32 * size)),
        (_GOLD, lambda y: _polygon_span(y, triangle))]
    rows = []
    for y in range(size):
        row = bytearray(_RED * size)
        for colour, span_at in layers:
            span = span_at(y + 0.5)
            if span is not None:
                a, b = max(0, round(span[0])), min(size, round(span[1]))
                if b > a:
                    row[3 * a:3 * b] = colour * (b - a)
        rows.append(b"\x00" + bytes(row))  # filter type 0 (none)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
            + chunk(b"IEND", b""))
