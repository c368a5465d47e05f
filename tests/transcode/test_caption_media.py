"""Subtitles in the video files: a mov_text track muxed into an MP4 rendition, and captions burned into the picture."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.media import (
    ffprobe_json,
    make_landscape_720p_clip,
    packets_md5,
    run_tool,
    streams_of,
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
    assert packets_md5(out.path) == packets_md5(clip)  # copied, not re-encoded
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


def _drawn_text_box(path: Path, *, width: int, height: int, at_s: float) -> tuple[int, int]:
    """Width and height (px) of the white caption text in a frame over a black picture."""
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-ss", str(at_s), "-i", str(path), "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    assert len(raw) == width * height
    lit = [(x, y) for y in range(height) for x in range(0, width) if raw[y * width + x] > 200]
    assert lit, "no caption drawn"
    xs, ys = [x for x, _ in lit], [y for _, y in lit]
    return max(xs) - min(xs), max(ys) - min(ys)


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (720, 1280)])
def test_a_full_caption_line_is_large_and_fits_across(width: int, height: int, tmp_path: Path) -> None:
    """Measured on the burned picture, as viewers see it: libass sizes fonts differently from what one expects."""
    black = tmp_path / "black.mp4"
    run_tool("ffmpeg", "-f", "lavfi", "-i", f"color=black:s={width}x{height}:r=25:d=2", "-f", "lavfi", "-i",
             "anullsrc=d=2", "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", black)  # fmt: skip
    line = "乡亲们好今天我们讲讲水稻育秧要点"  # 16 characters: the longest line captions.build_cues makes
    out = burn_captions(black, [Cue(0.2, 1.8, (line,))], tmp_path / "oc.mp4", limits=MediaLimits(),
                        preset="ultrafast")
    text_w, text_h = _drawn_text_box(out.path, width=width, height=height, at_s=1.0)
    assert text_w <= 0.92 * width, (text_w, width)  # never cut off at the sides
    char_px = text_w / 16
    if width > height:
        assert char_px >= 0.045 * height, char_px  # large: about 5% of the picture's height a character
    else:
        assert text_w >= 0.75 * width, (text_w, width)  # portrait: as large as the width allows
    assert text_h >= 0.8 * char_px  # one line, Chinese characters about as tall as wide


def test_caption_style_keeps_a_small_picture_readable() -> None:
    tiny = caption_style(320, 180)
    assert tiny.font_px >= 16 and tiny.outline_px >= 1.5


def test_cue_text_cannot_inject_ass_override_tags() -> None:
    assert ass_text(["{\\an8}上方", "a\\Nb"]) == "｛＼an8｝上方\\Na＼Nb"


def test_a_missing_cjk_font_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CaptionFontMissing) as err:
        find_cjk_font_dir([tmp_path])
    assert "字体" in err.value.message
    assert find_cjk_font_dir().is_dir()  # fonts-noto-cjk on this machine
