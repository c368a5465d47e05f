"""File names for an audio pack's tracks: `01_标题.mp3`, safe on a FAT32 memory card and readable on a cheap player.

    names = track_file_names(["开篇：学习党章", "第二讲 / 党的纪律"])   # ["01_开篇：学习党章.mp3", "02_第二讲 ／ 党的纪律.mp3"]

A title is cleaned first (`readable_text`, also used for the playlists and the cover): Unicode NFC; every run of
whitespace (tabs, newlines, U+3000 ideographic spaces) becomes one space; control and format characters (ZWJ,
bidi overrides, tag characters), private-use, unassigned and surrogate code points, variation selectors and
enclosing marks go; emoji and other pictographs (symbols outside GBK, so ℃, °, ★ and № stay; skin tones and
flags' regional indicators go) go too. Han characters of every block, CJK extensions included, stay as they are
(Traditional characters are not converted).

For the file name, FAT's forbidden ASCII characters become their full-width forms (`：` `？` `／` ...), which keep
the meaning and are all in GBK, so a GBK player font draws them; dots and spaces at the end are dropped (Windows
drops or refuses them); the title is cut at a character boundary, marked with `…`, so that the whole name is at most
MAX_NAME_UNITS UTF-16 code units (what FAT stores; a CJK extension character counts twice). A title with no letter
or digit left (only punctuation or emoji) becomes `第N课` (FALLBACK_TITLE).

The zero-padded number, as wide as the pack needs (at least two digits), is unique per track, so the names are
unique even for FAT, which compares names case-insensitively, and sort in track order as plain strings.

FALLBACK_TITLE is user-visible Chinese outside `api/templates/` and the error classes: a deliberate exception,
because the worker, not the API, names the files inside the pack.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence

FALLBACK_TITLE = "第{number}课"  # a title with nothing readable left
MAX_NAME_UNITS = 64  # the whole file name, number and extension included, in UTF-16 code units
MIN_NUMBER_WIDTH = 2
NUMBER_SEPARATOR = "_"
TRUNCATION_MARK = "…"  # U+2026, in GBK (A1AD)

# FAT long names refuse these, and mtools reads [ ] as a wildcard pattern (a card written with 学习[二十大]精神
# could not be read back to check it); each becomes its full-width form (all in GBK's row A3).
_FULL_WIDTH = str.maketrans({
    "\\": "＼", "/": "／", ":": "：", "*": "＊", "?": "？", '"': "＂", "<": "＜", ">": "＞", "|": "｜",
    "[": "［", "]": "］",
})  # fmt: skip
_WHITESPACE = re.compile(r"\s+")
# Categories removed outright: control, format (ZWJ, bidi, tags), surrogate, private use, unassigned, enclosing marks.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Me"})
_SYMBOL_CATEGORIES = frozenset({"So", "Sk"})
_VARIATION_SELECTORS = (range(0xFE00, 0xFE10), range(0xE0100, 0xE01F0))
_TRAILING_JUNK = " ."


@functools.lru_cache(maxsize=4096)  # a pack build asks for each title in its tags, playlists and contents
def readable_text(text: str) -> str:
    """`text` without control characters, emoji or pictographs, whitespace collapsed to single spaces, stripped."""
    text = _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text))
    kept = [ch for ch in text if _is_readable_char(ch)]
    return _WHITESPACE.sub(" ", "".join(kept)).strip()


def display_title(title: str, number: int) -> str:
    """The title as the pack shows it (tags, playlists, contents): `readable_text`, or `第N课` if nothing readable."""
    text = readable_text(title)
    return text if any(_is_letter_or_digit(ch) for ch in text) else FALLBACK_TITLE.format(number=number)


def track_number_width(track_count: int) -> int:
    """Digits of the zero-padded track number: 2 up to 99 tracks, 3 from 100, and so on."""
    return max(MIN_NUMBER_WIDTH, len(str(max(track_count, 1))))


def track_file_names(titles: Sequence[str], *, extension: str = ".mp3") -> list[str]:
    """One FAT32-safe file name per title, in track order (track 1 first)."""
    width = track_number_width(len(titles))
    names = [track_file_name(title, number, width=width, extension=extension)
             for number, title in enumerate(titles, start=1)]
    folded = {name.casefold() for name in names}
    if len(folded) != len(names):  # cannot happen while every name starts with its own number
        raise AssertionError("track file names collide")
    return names


def track_file_name(title: str, number: int, *, width: int, extension: str = ".mp3") -> str:
    """`NN_title.ext` for one track, at most MAX_NAME_UNITS UTF-16 units."""
    if not extension.startswith(".") or _fat_title(extension[1:]) != extension[1:] or not extension[1:]:
        raise ValueError(f"unsafe extension {extension!r}")
    prefix = f"{number:0{width}d}{NUMBER_SEPARATOR}"
    budget = MAX_NAME_UNITS - _utf16_units(prefix) - _utf16_units(extension)
    if budget < 2:
        raise ValueError(f"no room for a title in {prefix}{extension}")
    stem = _truncate(_fat_title(display_title(title, number)), budget)
    if not any(_is_letter_or_digit(ch) for ch in stem):
        stem = _truncate(FALLBACK_TITLE.format(number=number), budget)
    return f"{prefix}{stem}{extension}"


def _is_readable_char(ch: str) -> bool:
    category = unicodedata.category(ch)
    if category in _DROPPED_CATEGORIES:
        return False
    code = ord(ch)
    if any(code in block for block in _VARIATION_SELECTORS):
        return False
    if category in _SYMBOL_CATEGORIES and code >= 0x80:
        return _in_gbk(ch)  # ℃ ° ★ ※ stay; emoji, pictographs, skin tones and regional indicators go
    return True


def _in_gbk(ch: str) -> bool:
    try:
        ch.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


def _is_letter_or_digit(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LN"


def _fat_title(text: str) -> str:
    return text.translate(_FULL_WIDTH).rstrip(_TRAILING_JUNK)


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _truncate(stem: str, budget: int) -> str:
    """`stem` cut to `budget` UTF-16 units at a character boundary, with the mark when cut; no dot or space last."""
    if _utf16_units(stem) <= budget:
        return stem
    room = budget - _utf16_units(TRUNCATION_MARK)
    cut_at = used = 0
    for ch in stem:
        used += _utf16_units(ch)
        if used > room:
            break
        cut_at += 1
    while 0 < cut_at < len(stem) and unicodedata.category(stem[cut_at]).startswith("M"):
        cut_at -= 1  # never part a character from its combining marks
    return stem[:cut_at].rstrip(_TRAILING_JUNK) + TRUNCATION_MARK
