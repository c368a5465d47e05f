"""`weike serve` says whether uploads are open (no WEIKE_UPLOAD_TOKEN on embedded defaults) or need the token."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.services import free_port, port_open

REPO = Path(__file__).resolve().parents[2]


def _serve_output(tmp_path: Path, **env: str) -> str:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--no-worker", "--port", str(port)], cwd=REPO,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "WEIKE_DATA_DIR": str(tmp_path / "var"), "COLUMNS": "200", **env})
    try:
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", port, timeout_s=0.2):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return log.read_text(errors="replace")


@pytest.mark.parametrize("token", ["", "village-secret"])
def test_serve_says_whether_uploads_are_open(tmp_path: Path, token: str) -> None:
    output = _serve_output(tmp_path, WEIKE_UPLOAD_TOKEN=token)
    assert ("上传是开放的" in output) is (not token)
    assert ("上传需要令牌" in output) is bool(token)
    assert "/upload" in output
