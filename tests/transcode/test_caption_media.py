"""Subtitles in the video files: a mov_text track muxed into an MP4 rendition, and captions burned into the picture."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.media import (
    ffprobe_json,
    make_landscape_720p_clip,
    run_tool,
    streams_of,
    video_packets_md5,
)
from transcode.captions import Cue, parse_cues, write_srt
from transcode.limits import MediaLimits
from transcode.open_captions import (
    CaptionFontMissing,
    ass_text,
    burn_captions,
    caption_style,
    find_cjk_font_dir,
)
from transcode.subtitle_mux import mux_subtitles

LIMITS = MediaLimits()
CUES = [
    Cue(0.2, 1.6, ("大家好，欢迎来到今天的数学课",)),
    Cue(1.6, 3.4, ("长方形有四条边", "对边相等，四个角都是直角")),
]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of 1280x720 test pattern with a tone: the 720p rendition as the ladder leaves it (+faststart)."""
    folder = tmp_path_factory.mktemp("caption-media")
    raw = make_landscape_720p_clip(folder / "raw.mp4", duration_s=4.0)
    out = folder / "720p.mp4"
    run_tool("ffmpeg", "-i", raw, "-c", "copy", "-movflags", "+faststart", out)
    return out


@pytest.fixture
def srt(tmp_path: Path) -> Path:
    path = tmp_path / "subtitles.srt"
    path.write_text(write_srt(CUES), encoding="utf-8")
    return path


def gray_band(path: Path, *, at_s: float, top: bool, width: int = 64, height: int = 36) -> bytes:
    """The bottom (or top) quarter of one frame, as width x height/4 gray pixels."""
    crop = "crop=iw:ih/4:0:0" if top else "crop=iw:ih/4:0:ih*3/4"
    proc = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-ss", f"{at_s}", "-i", str(path), "-frames:v", "1", "-vf",
         f"{crop},scale={width}:{height // 4},format=gray", "-f", "rawvideo", "-"],
        capture_output=True, timeout=60, check=True)  # fmt: skip
    return proc.stdout


def mean_abs_diff(a: bytes, b: bytes) -> float:
    assert len(a) == len(b) and a
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def test_muxed_rendition_has_a_chinese_mov_text_track_and_the_same_picture(
    clip: Path, srt: Path, tmp_path: Path
) -> None:
    out = mux_subtitles(clip, srt, tmp_path / "720p-cc1.mp4", limits=LIMITS)
    subs = streams_of(out.path, "subtitle")
    assert [(s["codec_name"], s["tags"]["language"]) for s in subs] == [("mov_text", "chi")]
    assert [s["codec_name"] for s in streams_of(out.path, "audio")] == ["aac"]
    assert video_packets_md5(out.path) == video_packets_md5(clip)  # copied, not re-encoded
    assert abs(out.duration_s - float(ffprobe_json(clip)["format"]["duration"])) < 0.1
    back = tmp_path / "back.srt"
    run_tool("ffmpeg", "-i", out.path, "-map", "0:s:0", back)
    assert [c.lines for c in parse_cues(back.read_text(encoding="utf-8"))] == [c.lines for c in CUES]


def test_open_captions_differ_from_the_plain_picture_only_in_the_caption_area(clip: Path, tmp_path: Path) -> None:
    progress: list[float] = []
    out = burn_captions(clip, CUES, tmp_path / "open-captions-v1.mp4", limits=LIMITS, preset="ultrafast",
                        on_progress=progress.append)
    assert (out.width, out.height) == (1280, 720) and progress[-1] == 1.0
    assert [s["codec_name"] for s in streams_of(out.path, "audio")] == ["aac"]
    assert not list(tmp_path.glob("*.ass"))  # the style file stays in the scratch folder only while it runs
    at = 2.5  # the second cue, two lines
    bottom = mean_abs_diff(gray_band(out.path, at_s=at, top=False), gray_band(clip, at_s=at, top=False))
    top = mean_abs_diff(gray_band(out.path, at_s=at, top=True), gray_band(clip, at_s=at, top=True))
    assert bottom > 8 and top < 3, (bottom, top)
    after = mean_abs_diff(gray_band(out.path, at_s=3.8, top=False), gray_band(clip, at_s=3.8, top=False))
    assert after < 3, after  # no cue on screen after 3.4 s


def test_caption_style_is_large_but_a_full_line_fits_across() -> None:
    landscape, portrait, tiny = caption_style(1280, 720), caption_style(720, 1280), caption_style(320, 180)
    assert landscape.font_px >= 44
    assert 16 * portrait.font_px <= 0.9 * 720
    assert 16 * tiny.font_px <= 320 and tiny.font_px >= 16
    assert landscape.outline_px >= 3


def test_cue_text_cannot_inject_ass_override_tags() -> None:
    assert ass_text(["{\\an8}上方", "a\\Nb"]) == "｛＼an8｝上方\\Na＼Nb"


def test_a_missing_cjk_font_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CaptionFontMissing) as err:
        find_cjk_font_dir([tmp_path])
    assert "字体" in err.value.message
    assert find_cjk_font_dir().is_dir()  # fonts-noto-cjk on this machine
