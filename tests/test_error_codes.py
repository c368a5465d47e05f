"""Error codes are a contract: this snapshot changes only when a code is added (never renamed)."""

from __future__ import annotations

import inspect

import catalog.errors
import ingest.errors
import transcode.errors


def _codes(module: object, base: type) -> dict[str, str]:
    found = {}
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if issubclass(cls, base) and cls.__module__ == module.__name__:  # type: ignore[attr-defined]
            found[cls.__name__] = cls.code
    return found


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_error_codes_are_stable() -> None:
    codes = {
        **_codes(ingest.errors, ingest.errors.IngestError),
        **_codes(transcode.errors, transcode.errors.TranscodeError),
        **_codes(catalog.errors, catalog.errors.CatalogError),
    }
    assert codes == SNAPSHOT


def test_every_error_has_a_chinese_message() -> None:
    for module, base in ((ingest.errors, ingest.errors.IngestError), (transcode.errors, transcode.errors.TranscodeError),
                         (catalog.errors, catalog.errors.CatalogError)):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, base):
                assert _has_chinese(cls.message), cls


SNAPSHOT: dict[str, str] = {}
