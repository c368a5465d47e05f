"""The open-caption edition: a rendition with its subtitles burned into the picture, for players that show none.

    out = burn_captions(rendition_720p, cues, tmp / "open-captions-v1.mp4", limits=limits)

The cues (already laid out by `transcode.captions.build_cues`: at most 2 lines of about 16 characters) are written
as an ASS file in the scratch folder, with the style in the file itself: Noto Sans CJK SC bold (fonts-noto-cjk),
white with a black outline and a soft shadow, about 6.5% of the picture height, bottom centre. The play resolution
is the video's own size, so sizes are pixels. ffmpeg's `subtitles` filter (libass) draws it; the file name is
relative to the scratch folder (the command runs there) and the font folder a fixed system path, so nothing in the
filter graph needs escaping. Video is re-encoded with the ladder's H.264 settings; audio is copied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from transcode import runner
from transcode.captions import Cue
from transcode.command import PROGRESS, QUIET, compile_ffmpeg, file_url, open_input
from transcode.errors import CorruptMedia, NotMedia, TranscodeError
from transcode.ladder import LARGE_RUNG_X264_PARAMS, x264_options
from transcode.limits import MediaLimits
from transcode.probe import probe_media

CJK_FONT_NAME = "Noto Sans CJK SC"
FONT_DIRS = (
    Path("/usr/share/fonts/opentype/noto"),
    Path("/usr/share/fonts/truetype/noto"),
    Path("/usr/share/fonts/noto-cjk"),
    Path("/usr/local/share/fonts"),
)
_FONT_FILES = ("NotoSansCJK*.ttc", "NotoSansCJK*.otf", "NotoSansSC*.otf")
FONT_HEIGHT_SHARE = 0.05  # a character's height (one em), of the picture height: large, for elderly viewers
ASS_SIZE_PER_EM = 1.448  # Noto Sans CJK: (ascender 1160 + descender 288) / 1000 units per em
MIN_FONT_PX = 16
MAX_LINE_CHARS = 16  # captions.CaptionRules.max_line_width: a full line must fit across the picture
DURATION_TOLERANCE_S = 0.5


class CaptionFontMissing(TranscodeError):
    code = "caption_font_missing"
    message = "缺少中文字幕字体（fonts-noto-cjk）"


@dataclass(frozen=True)
class CaptionStyle:
    font_name: str
    font_px: int
    outline_px: float
    shadow_px: float
    margin_v_px: int
    margin_h_px: int


@dataclass(frozen=True)
class OpenCaptionsOutput:
    path: Path
    width: int
    height: int
    duration_s: float
    size_bytes: int
    bit_rate: int | None


def caption_style(width: int, height: int, *, font_name: str = CJK_FONT_NAME) -> CaptionStyle:
    """Large but never wider than the picture: a 16-character line fills at most 90% of the width.

    Sizes are decided per character (one em, the width of a Chinese character); libass sizes a font by its
    ascender plus descender, which for Noto Sans CJK is 1.448 em, so the ASS font size is the em times that.
    """
    em_px = max(MIN_FONT_PX, round(height * FONT_HEIGHT_SHARE))
    em_px = max(8, min(em_px, int(width * 0.9 / MAX_LINE_CHARS)))
    font_px = round(em_px * ASS_SIZE_PER_EM)
    return CaptionStyle(
        font_name=font_name,
        font_px=font_px,
        outline_px=max(1.5, round(em_px * 0.08, 1)),
        shadow_px=max(0.5, round(em_px * 0.03, 1)),
        margin_v_px=max(4, round(height * 0.05)),
        margin_h_px=max(4, round(width * 0.03)),
    )


def find_cjk_font_dir(candidates: Sequence[Path] = FONT_DIRS) -> Path:
    for folder in candidates:
        if folder.is_dir() and any(next(folder.glob(pattern), None) for pattern in _FONT_FILES):
            return folder
    raise CaptionFontMissing(f"no Noto Sans CJK font in {', '.join(str(c) for c in candidates)}")


def _ass_time(seconds: float) -> str:
    cs = max(0, round(seconds * 100))
    h, rest = divmod(cs, 360_000)
    m, rest = divmod(rest, 6_000)
    s, cs = divmod(rest, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


_ASS_TEXT = str.maketrans({"\\": "＼", "{": "｛", "}": "｝", "\n": " ", "\r": " "})


def ass_text(lines: Sequence[str]) -> str:
    """A cue's lines as ASS dialogue text: override braces and backslashes made harmless, lines joined by \\N."""
    return r"\N".join(line.translate(_ASS_TEXT) for line in lines)


def write_ass(cues: Sequence[Cue], dest: Path, *, width: int, height: int, style: CaptionStyle) -> Path:
    header = f"""[Script Info]
ScriptType: v4.00+
PlayResX: {width}
PlayResY: {height}
WrapStyle: 2
ScaledBorderAndShadow: yes
YCbCr Matrix: None

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, \
Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, \
MarginV, Encoding
Style: Default,{style.font_name},{style.font_px},&H00FFFFFF,&H000000FF,&H00000000,&H80000000,-1,0,0,0,100,100,0,0,\
1,{style.outline_px},{style.shadow_px},2,{style.margin_h_px},{style.margin_h_px},{style.margin_v_px},1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""
    events = [
        f"Dialogue: 0,{_ass_time(c.start_s)},{_ass_time(c.end_s)},Default,,0,0,0,,{ass_text(c.lines)}"
        for c in cues
        if c.lines and c.end_s > c.start_s
    ]
    dest.write_text(header + "\n".join(events) + "\n", encoding="utf-8")
    return dest


def burn_captions(
    src: Path,
    cues: Sequence[Cue],
    dest: Path,
    *,
    limits: MediaLimits,
    preset: str = "veryfast",
    large_rung_params: str = LARGE_RUNG_X264_PARAMS,
    on_progress: Callable[[float], None] | None = None,
    font_dir: Path | None = None,
    ffmpeg_bin: str = "ffmpeg",
    ffprobe_bin: str = "ffprobe",
) -> OpenCaptionsOutput:
    """Write `dest` (MP4): `src`'s picture with `cues` drawn on it, its sound copied."""
    fonts = font_dir or find_cjk_font_dir()
    source = probe_media(src, limits=limits, ffprobe_bin=ffprobe_bin)
    video = source.video
    if video is None:
        raise NotMedia(f"{src.name} has no picture to burn captions into")
    width, height = video.display_width, video.display_height
    dest.parent.mkdir(parents=True, exist_ok=True)
    ass = write_ass(cues, dest.with_suffix(".ass"), width=width, height=height, style=caption_style(width, height))
    inp = open_input(src)
    picture = (
        inp[str(video.index)]
        .filter("subtitles", filename=ass.name, fontsdir=str(fonts))
        .filter("format", "yuv420p")
    )
    options: dict[str, object] = {
        **x264_options(min(width, height), video.fps, preset=preset, large_rung_params=large_rung_params),
        "map_metadata": -1, "map_chapters": -1, "movflags": "+faststart", "format": "mp4",
    }  # fmt: skip
    streams = [picture]
    if source.audio is not None:
        streams.append(inp[str(source.audio.index)])
        options["c:a"] = "copy"
    node = ffmpeg.output(*streams, file_url(dest), **options)
    try:
        runner.run(
            compile_ffmpeg(node, ffmpeg_bin=ffmpeg_bin, global_args=(*QUIET, *PROGRESS)),
            timeout_s=limits.encode_timeout_s(source.duration_s),
            cwd=dest.parent,
            on_progress=on_progress,
            progress_total_s=source.duration_s,
        )
        out = probe_media(dest, limits=limits, ffprobe_bin=ffprobe_bin)
        if out.duration_s < source.duration_s - DURATION_TOLERANCE_S or out.video is None:
            raise CorruptMedia(f"{dest.name} lasts {out.duration_s:.2f} s, its source {source.duration_s:.2f} s")
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    finally:
        ass.unlink(missing_ok=True)
    return OpenCaptionsOutput(path=dest, width=out.video.display_width, height=out.video.display_height,
                              duration_s=out.duration_s, size_bytes=out.size_bytes, bit_rate=out.bit_rate)
