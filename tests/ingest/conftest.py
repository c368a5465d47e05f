"""Fixtures for the ingest tests: every storage backend, behind the one Storage interface."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ingest.folder_store import FolderStore
from ingest.storage import Storage


def pytest_configure(config: pytest.Config) -> None:
    # Until tests/conftest.py lists "tests.support.s3server" in pytest_plugins; a no-op once it does.
    # (pytest refuses pytest_plugins in a conftest below the root one.)
    config.pluginmanager.import_plugin("tests.support.s3server")


@pytest.fixture(params=["folder", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "folder":
        return FolderStore(tmp_path / "store")
    # Small parts, so a few MiB exercise multipart uploads.
    from ingest.s3_store import S3Store

    server = request.getfixturevalue("s3_server")
    s3 = S3Store.from_url(server.storage_url(f"weike-test-{uuid.uuid4().hex[:12]}", part_size_mb=5))
    s3.ensure_bucket()
    return s3
