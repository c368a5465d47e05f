"""Captions people can read: Whisper segments re-cut into short cues, WebVTT and SRT, and checks on edited segments.

Rules (`CaptionRules`): at most about 16 Chinese characters a line and 2 lines a cue, each cue 1-7 s on screen, no
overlaps, breaks at punctuation when there is one near. Timing inside a segment comes from word timestamps when the
engine gave them, else it is shared out in proportion to the characters. Word boundaries come from jieba, so a line
never splits "长方形" in two. As subtitles usually are in Chinese, a comma or full stop that ends a line is dropped
(the line break does its work); question and exclamation marks stay.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from transcode.errors import TranscodeError

_BREAK_AFTER = "，。！？；：、…,.!?;:"
_SENTENCE_END = "。！？!?…"
_DROP_AT_LINE_END = "，。、；：,.;:"
_MAX_EDITED_TEXT_CHARS = 500


class CaptionsInvalid(TranscodeError):
    code = "captions_invalid"
    message = "字幕内容有误"


class TimedWord(Protocol):
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...
    @property
    def text(self) -> str: ...


class TimedSegment(TimedWord, Protocol):
    @property
    def words(self) -> Sequence[TimedWord]: ...


@dataclass(frozen=True)
class CaptionRules:
    max_line_width: float = 16.0  # in Chinese characters; Latin letters and digits count half
    max_lines: int = 2
    min_cue_s: float = 1.0
    max_cue_s: float = 7.0
    pause_s: float = 1.0  # a silence this long always starts a new cue


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class EditedSegment:
    """A segment as a reviewer corrected it (no word timings)."""

    start_s: float
    end_s: float
    text: str
    words: tuple[TimedWord, ...] = ()


@dataclass(frozen=True)
class _Unit:
    text: str
    start_s: float
    end_s: float


def display_width(text: str) -> float:
    """Screen width in Chinese characters: wide and full-width characters 1, everything else 1/2."""
    return sum(1.0 if unicodedata.east_asian_width(c) in ("W", "F") else 0.5 for c in text if c != "\n")


def build_cues(segments: Iterable[TimedSegment], rules: CaptionRules = CaptionRules()) -> list[Cue]:
    """Re-cut transcript segments into readable cues."""
    capacity = rules.max_line_width * rules.max_lines
    cues: list[Cue] = []
    current: list[_Unit] = []

    def flush(units: list[_Unit]) -> None:
        if units and "".join(u.text for u in units).strip():
            cues.append(_make_cue(units, rules))

    for segment in segments:
        for unit in _units(segment, rules):
            if current and unit.start_s - current[-1].end_s >= rules.pause_s:
                flush(current)
                current = []
            if current and _too_full(current, unit, capacity, rules):
                keep = _break_point(current, capacity)
                flush(current[:keep])
                current = current[keep:]
                if current and _too_full(current, unit, capacity, rules):
                    flush(current)
                    current = []
            current.append(unit)
            if unit.text.rstrip()[-1:] in _SENTENCE_END:
                flush(current)
                current = []
    flush(current)
    return _fix_timing(cues, rules)


def _too_full(current: list[_Unit], unit: _Unit, capacity: float, rules: CaptionRules) -> bool:
    """Adding `unit` would overfill the cue (its lines, with some slack for line breaks, or its time)."""
    width = sum(display_width(u.text) for u in current) + display_width(unit.text.rstrip(_DROP_AT_LINE_END))
    return width > capacity - 2 or unit.end_s - current[0].start_s > rules.max_cue_s


def _break_point(units: list[_Unit], capacity: float) -> int:
    """How many units to show now: up to the last clause punctuation past 40% of a full cue, else all."""
    width = 0.0
    best = len(units)
    for i, unit in enumerate(units):
        width += display_width(unit.text)
        if unit.text.rstrip()[-1:] in _BREAK_AFTER and width >= 0.4 * capacity and i < len(units) - 1:
            best = i + 1
    return best


@functools.lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def _words(text: str) -> list[str]:
    """Words with the punctuation after them attached; spaces kept inside Latin runs."""
    out: list[str] = []
    for token in _jieba().cut(text):
        if out and (all(c in _BREAK_AFTER for c in token) or token.isspace()):
            out[-1] += token
        elif token.strip():
            out.append(token)
    return out


def _units(segment: TimedSegment, rules: CaptionRules) -> list[_Unit]:
    if segment.words:
        units = [_Unit(w.text.strip(), w.start_s, w.end_s) for w in segment.words if w.text.strip()]
    else:
        units = _spread(_words(segment.text.strip()), segment.start_s, segment.end_s)
    return [piece for u in units for piece in _split_long(u, rules.max_line_width)]


def _spread(words: list[str], start_s: float, end_s: float) -> list[_Unit]:
    """Share the segment's time among its words by their width (punctuation takes no time)."""
    weights = [max(0.5, display_width(re.sub(rf"[{re.escape(_BREAK_AFTER)}\s]", "", w))) for w in words]
    total = sum(weights) or 1.0
    units, t = [], start_s
    for word, weight in zip(words, weights, strict=True):
        step = (end_s - start_s) * weight / total
        units.append(_Unit(word, t, t + step))
        t += step
    return units


def _split_long(unit: _Unit, max_width: float) -> list[_Unit]:
    if display_width(unit.text) <= max_width:
        return [unit]
    pieces, piece = [], ""
    for char in unit.text:
        if display_width(piece + char) > max_width:
            pieces.append(piece)
            piece = ""
        piece += char
    pieces.append(piece)
    return _spread(pieces, unit.start_s, unit.end_s)


def _make_cue(units: list[_Unit], rules: CaptionRules) -> Cue:
    texts = [u.text for u in units]
    lines = _lay_out(texts, rules.max_line_width)
    lines = [line.strip().rstrip(_DROP_AT_LINE_END).strip() or line.strip() for line in lines]
    return Cue(units[0].start_s, units[-1].end_s, tuple(line for line in lines if line))


def _lay_out(texts: list[str], max_width: float) -> list[str]:
    """One line if it fits, else the best split into two: both fitting, at punctuation, balanced."""
    joined = "".join(texts)
    if display_width(joined) <= max_width:
        return [joined]
    best: tuple[float, int] | None = None
    for i in range(1, len(texts)):
        first, second = "".join(texts[:i]), "".join(texts[i:])
        w1, w2 = (
            display_width(first.rstrip(_DROP_AT_LINE_END)),
            display_width(second.rstrip(_DROP_AT_LINE_END)),
        )
        if w1 > max_width or w2 > max_width:
            continue
        score = abs(w1 - w2) - (6.0 if texts[i - 1].rstrip()[-1:] in _BREAK_AFTER else 0.0)
        if best is None or score < best[0]:
            best = (score, i)
    if best is None:  # cannot happen for cues built by build_cues; hard-wrap anything else
        return [joined[i : i + int(max_width)] for i in range(0, len(joined), int(max_width))]
    return ["".join(texts[: best[1]]), "".join(texts[best[1] :])]


def _fix_timing(cues: list[Cue], rules: CaptionRules) -> list[Cue]:
    """No overlaps; stretch short cues to `min_cue_s` into the silence around them; clip long ones."""
    fixed: list[Cue] = []
    for i, cue in enumerate(cues):
        prev_end = fixed[-1].end_s if fixed else 0.0
        next_start = cues[i + 1].start_s if i + 1 < len(cues) else math.inf
        start = max(cue.start_s, prev_end)
        end = min(max(cue.end_s, start), start + rules.max_cue_s)
        if end - start < rules.min_cue_s:
            end = min(start + rules.min_cue_s, max(end, next_start))
        if end - start < rules.min_cue_s:
            start = max(prev_end, end - rules.min_cue_s)
        fixed.append(Cue(round(start, 3), round(end, 3), cue.lines))
    return _lengthen_short(fixed, rules)


def _lengthen_short(cues: list[Cue], rules: CaptionRules) -> list[Cue]:
    """A cue still under `min_cue_s` (hemmed in by its neighbours) borrows time from a neighbour that can spare
    it, else joins a neighbour when the text still fits on screen; too short to read is worse than either."""
    out = list(cues)
    i = 0
    while i < len(out):
        cue = out[i]
        need = rules.min_cue_s - (cue.end_s - cue.start_s)
        if need <= 0.001:
            i += 1
            continue
        nxt = out[i + 1] if i + 1 < len(out) else None
        prev = out[i - 1] if i > 0 else None
        if nxt is not None and nxt.end_s - nxt.start_s - need >= rules.min_cue_s and nxt.start_s - cue.end_s < need:
            shift = round(cue.end_s + need, 3)
            out[i], out[i + 1] = Cue(cue.start_s, shift, cue.lines), Cue(shift, nxt.end_s, nxt.lines)
        elif prev is not None and prev.end_s - prev.start_s - need >= rules.min_cue_s:
            shift = round(cue.start_s - need, 3)
            out[i - 1], out[i] = Cue(prev.start_s, min(prev.end_s, shift), prev.lines), Cue(shift, cue.end_s, cue.lines)
        elif nxt is not None and (joined := _joined(cue, nxt, rules)) is not None:
            out[i : i + 2] = [joined]
            continue  # the joined cue may still be short
        elif prev is not None and (joined := _joined(prev, cue, rules)) is not None:
            out[i - 1 : i + 1] = [joined]
            i -= 1
            continue
        i += 1
    return out


def _joined(first: Cue, second: Cue, rules: CaptionRules) -> Cue | None:
    """The two cues as one, if its text fits the lines and its time the longest cue."""
    if second.end_s - first.start_s > rules.max_cue_s:
        return None
    if len(first.lines) + len(second.lines) <= rules.max_lines:
        return Cue(first.start_s, second.end_s, (*first.lines, *second.lines))  # each keeps its own line
    lines = _lay_out(["".join(first.lines) + "，", "".join(second.lines)], rules.max_line_width)
    if len(lines) > rules.max_lines or any(display_width(line) > rules.max_line_width for line in lines):
        return None
    return Cue(first.start_s, second.end_s, tuple(lines))


def _timestamp(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _vtt_escape(line: str) -> str:
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_webvtt(cues: Sequence[Cue]) -> str:
    blocks = ["WEBVTT\n"]
    for cue in cues:
        lines = "\n".join(_vtt_escape(line) for line in cue.lines)
        blocks.append(f"{_timestamp(cue.start_s, '.')} --> {_timestamp(cue.end_s, '.')}\n{lines}\n")
    return "\n".join(blocks)


_SRT_MARKUP = str.maketrans({"<": "＜", ">": "＞", "{": "｛", "}": "｝"})


def write_srt(cues: Sequence[Cue]) -> str:
    """SRT has no escapes, and players read `<i>` and `{\\an8}` in it as styling: those become full-width."""
    blocks = []
    for n, cue in enumerate(cues, start=1):
        lines = "\n".join(line.translate(_SRT_MARKUP) for line in cue.lines)
        blocks.append(f"{n}\n{_timestamp(cue.start_s, ',')} --> {_timestamp(cue.end_s, ',')}\n{lines}\n")
    return "\n".join(blocks)


_TIMING = re.compile(
    r"^\s*(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{3})\s*-->\s*(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{3})(?:\s.*)?$"
)


def parse_cues(text: str) -> list[Cue]:
    """Read WebVTT or SRT (cue timings and text lines; VTT headers, notes and styles are skipped)."""
    cues: list[Cue] = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").lstrip("\ufeff")):
        lines = block.strip("\n").split("\n")
        for i, line in enumerate(lines):
            m = _TIMING.match(line)
            if m:
                g = [int(x) if x else 0 for x in m.groups()]
                start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
                end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
                body = tuple(_vtt_unescape(x) for x in lines[i + 1 :] if x.strip())
                cues.append(Cue(start, end, body))
                break
    return cues


def _vtt_unescape(line: str) -> str:
    return line.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def parse_edited_segments(items: Sequence[Mapping[str, Any]], *, duration_s: float) -> list[EditedSegment]:
    """Check a reviewer's segments (`start_s`, `end_s`, `text`): in order, no overlaps, inside the media.

    Raises CaptionsInvalid with a Chinese message naming the first bad segment (numbered from 1).
    """
    segments: list[EditedSegment] = []
    for n, item in enumerate(items, start=1):
        try:
            start, end, text = float(item["start_s"]), float(item["end_s"]), item["text"]
        except (KeyError, TypeError, ValueError) as exc:
            raise CaptionsInvalid(f"segment {n}: {exc!r}", message=f"第 {n} 条字幕缺少时间或文字") from exc
        if not isinstance(text, str):
            raise CaptionsInvalid(
                f"segment {n}: text is {type(text).__name__}", message=f"第 {n} 条字幕的文字无效"
            )
        text = " ".join(text.replace("-->", "→").split())
        if not text:
            raise CaptionsInvalid(f"segment {n}: empty text", message=f"第 {n} 条字幕没有文字")
        if len(text) > _MAX_EDITED_TEXT_CHARS or any(unicodedata.category(c) == "Cc" for c in text):
            raise CaptionsInvalid(f"segment {n}: text too long or has control characters",
                                  message=f"第 {n} 条字幕的文字过长或含有无效字符")  # fmt: skip
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
            raise CaptionsInvalid(
                f"segment {n}: start {start} end {end}", message=f"第 {n} 条字幕的开始时间应早于结束时间"
            )
        if end > duration_s + 0.05:
            raise CaptionsInvalid(
                f"segment {n}: ends at {end} after {duration_s}", message=f"第 {n} 条字幕超出了视频时长"
            )
        if segments and start < segments[-1].end_s - 0.001:
            raise CaptionsInvalid(f"segment {n}: starts at {start} before {segments[-1].end_s}",
                                  message=f"第 {n} 条字幕与上一条时间重叠或顺序颠倒")  # fmt: skip
        segments.append(EditedSegment(start, min(end, duration_s), text))
    return segments
