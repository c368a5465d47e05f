"""Audio pack playlists and table of contents: each decodes in its encoding and lists every file, in order."""

from __future__ import annotations

import pytest

from transcode.pack_names import track_file_names
from transcode.pack_playlists import (
    PackSummary,
    PackTrack,
    album_title,
    format_duration,
    playlist_local_bytes,
    playlist_utf8_bytes,
    table_of_contents_bytes,
)

TITLES = ["开篇：学习党章", "𠮷野家的故事", "标题\n#EXTINF:0,注入\nC:\\evil.mp3", "🎉"]
SPEAKERS = ["张三", "", "李四", "王五"]
BRANCHES = ["城关镇第一党支部", "", "河口村党支部", "𪚥支部"]
DURATIONS = [65.4, 3599.6, 3725.0, 0.2]
SUMMARY = PackSummary(title="2026年第3季度 党课随身听", version=2)


def tracks() -> list[PackTrack]:
    names = track_file_names(TITLES)
    return [PackTrack(file_name=n, title=t, speaker=s, branch=b, duration_s=d)
            for n, t, s, b, d in zip(names, TITLES, SPEAKERS, BRANCHES, DURATIONS, strict=True)]


def assert_crlf_only(text: str) -> None:
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")
    assert "\r" not in text.replace("\r\n", "")


def test_utf8_playlist_lists_every_file_in_order_by_relative_name() -> None:
    data = playlist_utf8_bytes(tracks())
    assert not data.startswith(b"\xef\xbb\xbf")  # no BOM
    text = data.decode("utf-8")
    assert_crlf_only(text)
    lines = text.split("\r\n")[:-1]
    assert lines[0] == "#EXTM3U"
    assert lines[1::2] == [
        "#EXTINF:65,张三 - 开篇：学习党章",
        "#EXTINF:3600,𠮷野家的故事",
        "#EXTINF:3725,李四 - 标题 #EXTINF:0,注入 C:\\evil.mp3",
        "#EXTINF:0,王五 - 第4课",
    ]
    assert lines[2::2] == [t.file_name for t in tracks()]
    assert all("/" not in line and "\\" not in line for line in lines[2::2])


def test_local_code_page_playlist_is_the_same_in_gb18030() -> None:
    data = playlist_local_bytes(tracks())
    assert data.decode("gb18030") == playlist_utf8_bytes(tracks()).decode("utf-8")
    with pytest.raises(UnicodeEncodeError):
        tracks()[1].file_name.encode("gbk")  # outside GBK, still in GB18030
    assert tracks()[1].file_name.encode("gb18030").decode("gb18030") == tracks()[1].file_name
    assert "开篇".encode("gbk") in data  # names in GBK read right on a GBK-only player


def test_table_of_contents_shows_in_notepad_and_lists_every_track() -> None:
    data = table_of_contents_bytes(SUMMARY, tracks())
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "\n" not in text.replace("\r\n", "")
    lines = text.split("\r\n")
    assert lines[0] == "2026年第3季度 党课随身听"
    assert lines[1] == "第2版 · 共4课 · 总时长 2:03:10"
    assert lines[3] == "01. 开篇：学习党章"
    assert lines[4] == "    主讲：张三　支部：城关镇第一党支部　时长：1:05"
    assert lines[6] == "02. 𠮷野家的故事"
    assert lines[7] == "    时长：1:00:00"
    assert lines[9] == "03. 标题 #EXTINF:0,注入 C:\\evil.mp3"
    assert lines[10] == "    主讲：李四　支部：河口村党支部　时长：1:02:05"
    assert lines[12] == "04. 第4课"
    assert lines[13] == "    主讲：王五　支部：𪚥支部　时长：0:00"


@pytest.mark.parametrize(("seconds", "shown"), [
    (0, "0:00"), (0.4, "0:00"), (59.5, "1:00"), (65, "1:05"), (3599.4, "59:59"), (3600, "1:00:00"),
    (36125, "10:02:05"), (-3, "0:00"),
])  # fmt: skip
def test_durations_read_as_minutes_and_seconds_or_hours(seconds: float, shown: str) -> None:
    assert format_duration(seconds) == shown


def test_album_names_the_pack_and_its_version() -> None:
    assert album_title("2026年第3季度 党课随身听", 2) == "2026年第3季度 党课随身听 第2版"


def test_a_file_name_that_is_not_plain_is_refused() -> None:
    bad = PackTrack(file_name="../x.mp3", title="t", speaker="", branch="", duration_s=1)
    with pytest.raises(ValueError):
        playlist_utf8_bytes([bad])
