"""Pack covers: small baseline JPEGs from posters, and a drawn pack cover whose hostile title is only ever text."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.media import gray_thumbnail, run_tool, streams_of
from transcode.errors import NotAPhoto
from transcode.pack_covers import MAX_COVER_BYTES, draw_pack_cover, make_track_cover, wrap_cover_text

HOSTILE_TITLE = "100% \"危险\" 标题: it's a \\ test\n第二行 %{localtime} %{pts} ;[x],drawtext=text=pwned'\\''\n\n🎉"


def jpeg_frame_markers(path: Path) -> list[int]:
    """The SOFn markers (0xFFC0..0xFFCF, less DHT/JPG/DAC) of a JPEG, walking its segments."""
    data = path.read_bytes()
    assert data[:2] == b"\xff\xd8"
    found, i = [], 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xDA:  # start of scan: the entropy-coded data follows
            break
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            found.append(0xFF00 | marker)
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return found


def picture(path: Path, size: str, source: str = "testsrc2") -> Path:
    run_tool("ffmpeg", "-f", "lavfi", "-i", f"{source}=s={size}:d=1", "-frames:v", "1", path)
    return path


def test_a_track_cover_is_a_small_baseline_jpeg_300_px_on_its_longest_side(tmp_path: Path) -> None:
    cover = make_track_cover(picture(tmp_path / "poster.jpg", "1280x720"), tmp_path / "cover.jpg")
    assert jpeg_frame_markers(cover) == [0xFFC0]  # baseline, not progressive (0xFFC2)
    (image,) = streams_of(cover, "video")
    assert image["codec_name"] == "mjpeg" and image["width"] == 300 and image["height"] in (168, 169)
    assert cover.stat().st_size <= MAX_COVER_BYTES


def test_a_portrait_png_poster_gives_a_cover_300_px_high(tmp_path: Path) -> None:
    cover = make_track_cover(picture(tmp_path / "poster.png", "720x1280"), tmp_path / "cover.jpg")
    (image,) = streams_of(cover, "video")
    assert image["height"] == 300 and image["width"] in (168, 169)


def test_a_detailed_picture_is_compressed_harder_to_stay_under_the_limit(tmp_path: Path) -> None:
    noisy = tmp_path / "noisy.png"
    run_tool("ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=300x300:d=1,noise=alls=100:allf=u", "-frames:v", "1",
             noisy)  # fmt: skip
    cover = make_track_cover(noisy, tmp_path / "cover.jpg")
    assert cover.stat().st_size <= MAX_COVER_BYTES
    assert jpeg_frame_markers(cover) == [0xFFC0]


def test_a_file_that_is_not_a_picture_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "poster.jpg"
    text.write_text("not a picture")
    with pytest.raises(NotAPhoto):
        make_track_cover(text, tmp_path / "cover.jpg")
    assert not (tmp_path / "cover.jpg").exists()


def test_the_pack_cover_is_a_600_px_baseline_jpeg_with_white_text(tmp_path: Path) -> None:
    out = tmp_path / "covers" / "pack.jpg"
    draw_pack_cover("2026年第3季度 党课随身听", "全县农村党员", out)
    assert jpeg_frame_markers(out) == [0xFFC0]
    (image,) = streams_of(out, "video")
    assert (image["width"], image["height"]) == (600, 600)
    pixels = gray_thumbnail(out, width=60, height=60)
    assert max(pixels) > 150  # white text on the dark ground
    assert [p.name for p in out.parent.iterdir()] == ["pack.jpg"]  # the text files are gone


def test_a_hostile_title_is_drawn_as_text_without_breaking_the_filter(tmp_path: Path) -> None:
    out = tmp_path / "pack.jpg"
    draw_pack_cover(HOSTILE_TITLE, "观众: '%{n}' \\ 100%", out)
    assert jpeg_frame_markers(out) == [0xFFC0]
    plain = draw_pack_cover("标题", "观众", tmp_path / "plain.jpg")
    assert gray_thumbnail(out, width=60, height=60) != gray_thumbnail(plain, width=60, height=60)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack.jpg", "plain.jpg"]


def test_a_title_of_only_emoji_draws_an_empty_cover(tmp_path: Path) -> None:
    out = draw_pack_cover("🎉🎉🎉", "", tmp_path / "pack.jpg")
    assert max(gray_thumbnail(out, width=60, height=60)) < 150


def test_cover_text_wraps_at_spaces_never_starts_with_closing_punctuation_and_is_cut_with_a_mark() -> None:
    assert wrap_cover_text("2026年第3季度 党课随身听", width_ems=8.4, max_lines=4) == ["2026年第3季度", "党课随身听"]
    assert wrap_cover_text("一二三四五六七八，九十", width_ems=8, max_lines=4) == ["一二三四五六七八，", "九十"]
    lines = wrap_cover_text("长" * 100, width_ems=8, max_lines=4)
    assert lines == ["长" * 8] * 3 + ["长" * 7 + "…"]
    assert wrap_cover_text("第一行\n第二行\r%{pts}", width_ems=20, max_lines=4) == ["第一行 第二行 %{pts}"]
