"""Cover pictures for an audio pack: each track's small JPEG from its lesson's poster, and one drawn for the pack.

    jpeg = make_track_cover(poster, tmp / "cover-01.jpg")            # longest side 300 px, baseline, ~10-30 KB
    draw_pack_cover("2026年第3季度 党课随身听", "全县党员", tmp / "pack-cover.jpg")

Cheap players decode baseline JPEG only, and small ones: ffmpeg's mjpeg encoder writes baseline (SOF0) frames,
without metadata, and the quality is lowered once or twice if a cover comes out over MAX_COVER_BYTES.

The pack's cover is a plain dark-red square with the title and the audience in white, in Noto Sans CJK SC
(fonts-noto-cjk, picked by fontconfig, which knows which face of the .ttc collection is the Simplified Chinese one).
User text never enters the filter graph: each line is written to its own file in a scratch folder and `drawtext`
reads it through `textfile=` by a name we chose, with expansion off, so `%{...}`, quotes, colons, backslashes and
newlines are just text. The text is cleaned as file names are (`readable_text`: no emoji the font lacks) and
wrapped here, a Han character counting as one em and other characters as half of one, never starting a line with
closing punctuation, with `…` where it does not fit in the lines allowed.
"""

from __future__ import annotations

import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from transcode import runner
from transcode.command import PROTOCOL_WHITELIST, compile_ffmpeg, file_url
from transcode.errors import CommandFailed, NotAPhoto
from transcode.open_captions import find_cjk_font_dir
from transcode.pack_names import TRUNCATION_MARK, readable_text
from transcode.speaker_photo import sniff_photo

TRACK_COVER_SIDE_PX = 300
PACK_COVER_SIDE_PX = 600
MAX_COVER_BYTES = 40_000
JPEG_QUALITIES = (5, 9, 15)  # mjpeg -q:v tried in turn until the cover is small enough (2 best .. 31)
COVER_TIMEOUT_S = 30.0
CJK_FONT_NAME = "Noto Sans CJK SC"
BACKGROUND = "0x8E1B1B"  # dark red
RULE_COLOUR = "0xF2C14E"  # a gold rule between title and audience
TEXT_COLOUR = "white"
MARGIN_SHARE = 0.08  # of the side, left and right
TITLE_EM_SHARE = 0.1  # a title character's size, of the side: 60 px on 600, readable when a player shrinks it
AUDIENCE_EM_SHARE = 0.06
TITLE_MAX_LINES = 4
AUDIENCE_MAX_LINES = 2
LINE_HEIGHT = 1.35  # of the em
_NO_LINE_START = set("，。、；：？！）】》〉」』”’…,.;:?!)]}%")


@dataclass(frozen=True)
class _TextBlock:
    lines: list[str]
    em_px: int


def make_track_cover(src: Path, out_path: Path, *, side_px: int = TRACK_COVER_SIDE_PX,
                     max_bytes: int = MAX_COVER_BYTES, ffmpeg_bin: str = "ffmpeg",
                     timeout_s: float = COVER_TIMEOUT_S) -> Path:
    """Write `out_path`: the JPEG, PNG or WebP picture in `src` scaled to `side_px` on its longest side, as a small
    baseline JPEG; NotAPhoto when `src` is no such picture."""
    with src.open("rb") as fh:
        demuxer = sniff_photo(fh.read(64))
    if demuxer is None:
        raise NotAPhoto(f"{src.name}: not JPEG, PNG or WebP")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    picture = ffmpeg.input(file_url(src), protocol_whitelist=PROTOCOL_WHITELIST, format_whitelist=demuxer,
                           format=demuxer)
    scaled = picture["v:0"].filter("scale", side_px, side_px, force_original_aspect_ratio="decrease",
                                   flags="lanczos")
    try:
        for quality in JPEG_QUALITIES:
            node = _jpeg_output(scaled, out_path, quality)
            runner.run(compile_ffmpeg(node, ffmpeg_bin=ffmpeg_bin), timeout_s=timeout_s)
            if out_path.stat().st_size <= max_bytes:
                break
    except CommandFailed as exc:
        out_path.unlink(missing_ok=True)
        raise NotAPhoto(f"{src.name}: ffmpeg could not decode it: {exc}") from exc
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise
    return out_path


def draw_pack_cover(title: str, audience: str, out_path: Path, *, side_px: int = PACK_COVER_SIDE_PX,
                    ffmpeg_bin: str = "ffmpeg", timeout_s: float = COVER_TIMEOUT_S) -> Path:
    """Write `out_path`: a `side_px` square baseline JPEG with the pack's title and audience on a dark-red ground.

    CaptionFontMissing when fonts-noto-cjk is not installed.
    """
    find_cjk_font_dir()  # fontconfig would silently fall back to a font without Chinese
    width_px = side_px - 2 * round(side_px * MARGIN_SHARE)
    title_block = _block(title, round(side_px * TITLE_EM_SHARE), width_px, TITLE_MAX_LINES)
    audience_block = _block(audience, round(side_px * AUDIENCE_EM_SHARE), width_px, AUDIENCE_MAX_LINES)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".cover-", dir=out_path.parent) as scratch:
        frame = ffmpeg.input(f"color=c={BACKGROUND}:s={side_px}x{side_px}:d=1", format="lavfi",
                             format_whitelist="lavfi")
        gap_px = round(title_block.em_px * 0.8) if audience_block.lines else 0
        total_px = _height(title_block) + gap_px + _height(audience_block)
        y = (side_px - total_px) // 2
        frame, y = _draw_lines(frame, title_block, y, Path(scratch), "title")
        if audience_block.lines:
            rule_w = side_px // 5
            frame = frame.filter("drawbox", x=(side_px - rule_w) // 2, y=y + gap_px // 2 - 2, w=rule_w, h=4,
                                 color=RULE_COLOUR, t="fill")
            frame, y = _draw_lines(frame, audience_block, y + gap_px, Path(scratch), "audience")
        node = _jpeg_output(frame, out_path, JPEG_QUALITIES[0])
        try:
            runner.run(compile_ffmpeg(node, ffmpeg_bin=ffmpeg_bin), timeout_s=timeout_s, cwd=Path(scratch))
        except BaseException:
            out_path.unlink(missing_ok=True)
            raise
    return out_path


def wrap_cover_text(text: str, *, width_ems: float, max_lines: int) -> list[str]:
    """`text` cleaned and broken into at most `max_lines` lines of `width_ems` ems, `…` ending a cut last line."""
    half_ems = int(width_ems * 2)
    lines: list[str] = []
    line = ""
    for token in _tokens(readable_text(text)):
        if not line and token == " ":
            continue
        hanging = len(token) == 1 and token in _NO_LINE_START and line and _half_ems(line) <= half_ems
        if _half_ems(line + token) <= half_ems or hanging:  # closing punctuation may hang past the end
            line += token
            continue
        if token == " ":
            lines.append(line.rstrip())
            line = ""
            continue
        if line:
            head, space, tail = line.rpartition(" ")
            if space and head.strip() and _half_ems(tail) <= half_ems // 2:  # break at the space instead
                lines.append(head.rstrip())
                token = tail + token
            else:
                lines.append(line.rstrip())
            line = ""
        while _half_ems(token) > half_ems:  # a word longer than a line: cut it
            cut = _fit(token, half_ems)
            lines.append(token[:cut])
            token = token[cut:]
        line = token.lstrip()
    if line.strip():
        lines.append(line.rstrip())
    if len(lines) <= max_lines:
        return lines
    last = lines[max_lines - 1]
    while last and _half_ems(last + TRUNCATION_MARK) > half_ems:
        last = last[:-1]
    return [*lines[: max_lines - 1], last.rstrip() + TRUNCATION_MARK]


def _block(text: str, em_px: int, width_px: int, max_lines: int) -> _TextBlock:
    return _TextBlock(lines=wrap_cover_text(text, width_ems=width_px / em_px, max_lines=max_lines), em_px=em_px)


def _height(block: _TextBlock) -> int:
    return round(len(block.lines) * block.em_px * LINE_HEIGHT)


def _draw_lines(frame: Any, block: _TextBlock, y: int, scratch: Path,
                name: str) -> tuple[Any, int]:
    line_px = round(block.em_px * LINE_HEIGHT)
    for i, line in enumerate(block.lines):
        text_file = f"{name}{i}.txt"  # our own name, relative to the folder the command runs in
        (scratch / text_file).write_text(line, encoding="utf-8")
        frame = frame.filter("drawtext", textfile=text_file, font=CJK_FONT_NAME, fontsize=block.em_px,
                             fontcolor=TEXT_COLOUR, expansion="none", x="(w-text_w)/2",
                             y=y + (line_px - block.em_px) // 2, borderw=1, bordercolor=TEXT_COLOUR)
        y += line_px
    return frame, y


def _jpeg_output(frame: Any, path: Path, quality: int) -> Any:
    return ffmpeg.output(frame.filter("format", "yuvj420p"), file_url(path), format="mjpeg",
                         **{"frames:v": 1, "q:v": quality, "map_metadata": -1, "fflags": "+bitexact",
                            "flags:v": "+bitexact"})


def _tokens(text: str) -> list[str]:
    """Words of narrow characters, single wide characters and single spaces."""
    tokens: list[str] = []
    for ch in text:
        narrow_word = tokens and not _is_wide(ch) and ch != " " and tokens[-1] != " " and not _is_wide(tokens[-1][-1])
        if narrow_word and ch not in _NO_LINE_START:
            tokens[-1] += ch
        else:
            tokens.append(ch)
    return tokens


def _is_wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _half_ems(text: str) -> int:
    return sum(2 if _is_wide(ch) else 1 for ch in text)


def _fit(token: str, half_ems: int) -> int:
    """How many characters of `token` fit in `half_ems` (at least one)."""
    used = 0
    for i, ch in enumerate(token):
        used += 2 if _is_wide(ch) else 1
        if used > half_ems:
            return max(1, i)
    return len(token)
