"""Cleaning what people type into the library's fields (names, titles, descriptions) before it is stored, and
describing a change of them for the audit log."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from catalog.errors import InvalidDetails


def _printable(text: str, *, keep_newlines: bool) -> str:
    """NFC; control and format characters (zero-width spaces, direction marks, NUL) dropped; tabs as spaces."""
    kept = []
    for ch in unicodedata.normalize("NFC", text):
        if ch == "\n" and keep_newlines:
            kept.append(ch)
        elif ch.isspace():
            kept.append(" ")
        elif not unicodedata.category(ch).startswith("C"):
            kept.append(ch)
    return "".join(kept)


def plain_line(raw: str | None) -> str:
    """One line of printable text, single spaces, stripped; may be empty. What an upload's title, speaker, branch
    and file name become before they are stored, whichever way the file came (one request or tus)."""
    return " ".join(_printable(raw or "", keep_newlines=False).split())


def one_line(raw: str | None, *, max_chars: int, what: str) -> str:
    """A name or title: one line, single spaces, 1 to `max_chars` characters; InvalidDetails naming `what` (in
    Chinese: 讲师姓名, 系列名称) otherwise."""
    text = plain_line(raw)
    if not text:
        raise InvalidDetails(f"empty {what}", message=f"{what}不能为空")
    if len(text) > max_chars:
        raise InvalidDetails(f"{what} of {len(text)} characters", message=f"{what}最多 {max_chars} 个字")
    return text


def optional_line(raw: str | None, *, max_chars: int, what: str) -> str | None:
    """Like `one_line`, but blank is None."""
    if raw is None or not plain_line(raw):
        return None
    return one_line(raw, max_chars=max_chars, what=what)


def free_text(raw: str | None, *, max_chars: int, what: str) -> str | None:
    """A description: paragraphs kept (at most one blank line between them), trailing spaces dropped; blank is
    None."""
    lines = [" ".join(line.split()) for line in _printable(raw or "", keep_newlines=True).split("\n")]
    paragraphs: list[str] = []
    for line in lines:
        if line or (paragraphs and paragraphs[-1]):
            paragraphs.append(line)
    text = "\n".join(paragraphs).strip()
    if len(text) > max_chars:
        raise InvalidDetails(f"{what} of {len(text)} characters", message=f"{what}最多 {max_chars} 个字")
    return text or None


Change = tuple[Any, Any]  # (before, after)
MAX_AUDIT_VALUE_CHARS = 200


def _audit_value(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, str) and len(value) > MAX_AUDIT_VALUE_CHARS:
        return value[:MAX_AUDIT_VALUE_CHARS] + "…"
    return value


def describe_changes(changes: Mapping[str, Change]) -> str:
    """`{"field": [before, after], ...}` as JSON (long texts shortened), for an audit row's comment."""
    return json.dumps({name: [_audit_value(before), _audit_value(after)] for name, (before, after) in changes.items()},
                      ensure_ascii=False, sort_keys=True)
