"""The text files beside an audio pack's tracks: two playlists and a table of contents, as bytes for the ZIP.

- `播放列表.m3u8`: UTF-8 without a BOM, for players that know the extension;
- `播放列表.m3u`: the same in GB18030, for players that read a playlist in the local code page (GBK is a subset,
  so every name in GBK reads right on those; the rest still encodes, GB18030 covering all of Unicode);
- `目录.txt`: UTF-8 with a BOM, so that Windows Notepad shows it right: the pack's title, version, track count and
  total duration, then each track's number, title, speaker, branch and duration.

Lines end in CRLF (old players and Notepad expect them). Playlists name the files relative to themselves, which
sit beside them: just the file names. Every value is cleaned with `readable_text` first, so a title can never
start a line of its own.

The labels below and the file names are user-visible Chinese outside `api/templates/` and the error classes: a
deliberate exception, because the worker, not the API, writes these files into the pack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transcode.pack_names import display_title, readable_text, track_number_width

PLAYLIST_UTF8_NAME = "播放列表.m3u8"
PLAYLIST_LOCAL_NAME = "播放列表.m3u"
TABLE_OF_CONTENTS_NAME = "目录.txt"
PLAYLIST_LOCAL_ENCODING = "gb18030"
NEWLINE = "\r\n"

ALBUM_TITLE = "{title} 第{version}版"  # the ID3 album of every track
TOC_VERSION = "第{version}版"
TOC_TRACK_COUNT = "共{count}课"
TOC_TOTAL_DURATION = "总时长 {duration}"
TOC_SPEAKER = "主讲：{speaker}"
TOC_BRANCH = "支部：{branch}"
TOC_DURATION = "时长：{duration}"
TOC_SEPARATOR = "　"  # U+3000 between the details of a track (ideographic space, as wide as a Han character)
TOC_HEADER_SEPARATOR = " · "


@dataclass(frozen=True)
class PackTrack:
    """One track as the playlists and the table of contents list it."""

    file_name: str  # pack_names.track_file_names
    title: str
    speaker: str
    branch: str
    duration_s: float


@dataclass(frozen=True)
class PackSummary:
    title: str  # e.g. "2026年第3季度 党课随身听"
    version: int


def album_title(pack_title: str, version: int) -> str:
    """The ID3 album of a pack's tracks: its title and version, e.g. "2026年第3季度 党课随身听 第2版"."""
    return ALBUM_TITLE.format(title=readable_text(pack_title), version=version)


def format_duration(seconds: float) -> str:
    """`m:ss` under an hour, `h:mm:ss` from an hour, rounded to the second."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def playlist_text(tracks: Sequence[PackTrack]) -> str:
    """An extended M3U playlist: `#EXTM3U`, then `#EXTINF:<seconds>,<speaker> - <title>` and the file name.

    `tracks` are the pack's tracks in order, track 1 first (a title with nothing readable shows as `第N课`)."""
    lines = ["#EXTM3U"]
    for number, track in enumerate(tracks, start=1):
        title, speaker = display_title(track.title, number), readable_text(track.speaker)
        shown = f"{speaker} - {title}" if speaker else title
        lines.append(f"#EXTINF:{max(0, round(track.duration_s))},{shown}")
        lines.append(_file_line(track.file_name))
    return NEWLINE.join(lines) + NEWLINE


def playlist_utf8_bytes(tracks: Sequence[PackTrack]) -> bytes:
    """`播放列表.m3u8`: UTF-8, no BOM, CRLF."""
    return playlist_text(tracks).encode("utf-8")


def playlist_local_bytes(tracks: Sequence[PackTrack]) -> bytes:
    """`播放列表.m3u`: GB18030, CRLF."""
    return playlist_text(tracks).encode(PLAYLIST_LOCAL_ENCODING)


def table_of_contents_text(summary: PackSummary, tracks: Sequence[PackTrack]) -> str:
    """The pack's title, then version, count and total duration, then two lines per track and an empty one."""
    total = format_duration(sum(track.duration_s for track in tracks))
    header = TOC_HEADER_SEPARATOR.join([
        TOC_VERSION.format(version=summary.version),
        TOC_TRACK_COUNT.format(count=len(tracks)),
        TOC_TOTAL_DURATION.format(duration=total),
    ])  # fmt: skip
    lines = [readable_text(summary.title), header, ""]
    width = track_number_width(len(tracks))
    for number, track in enumerate(tracks, start=1):
        details = [TOC_DURATION.format(duration=format_duration(track.duration_s))]
        speaker, branch = readable_text(track.speaker), readable_text(track.branch)
        if branch:
            details.insert(0, TOC_BRANCH.format(branch=branch))
        if speaker:
            details.insert(0, TOC_SPEAKER.format(speaker=speaker))
        lines.append(f"{number:0{width}d}. {display_title(track.title, number)}")
        lines.append("    " + TOC_SEPARATOR.join(details))
        lines.append("")
    return NEWLINE.join(lines)


def table_of_contents_bytes(summary: PackSummary, tracks: Sequence[PackTrack]) -> bytes:
    """`目录.txt`: UTF-8 with a BOM, CRLF."""
    return table_of_contents_text(summary, tracks).encode("utf-8-sig")


def _file_line(file_name: str) -> str:
    if not file_name or any(ch in file_name for ch in "/\\\r\n") or file_name.startswith("#"):
        raise ValueError(f"not a plain file name: {file_name!r}")
    return file_name
