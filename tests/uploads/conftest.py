"""Fixtures for resumable uploads: both deployment stacks (S3 with 5 MiB parts), a real uvicorn on a socket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.live import LiveServer, serve_in_thread


@pytest.fixture(params=["embedded", "services"])
def tus_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Settings of one stack with short upload locks; on S3, 5 MiB parts so a few MiB cross part borders."""
    from tests.support.stacks import stack

    with stack(request.param, tmp_path / "var", request, upload_lock_s=4.0) as settings:
        if request.param == "services":
            settings = settings.model_copy(update={"storage_url": settings.storage_url + "&part_size_mb=5"})  # type: ignore[attr-defined]
        yield settings


@pytest.fixture
def tus_client(tus_settings: Any) -> Iterator[TestClient]:
    """The API as the uploader of 东风村党支部."""
    from api.app import create_app
    from tests.support.accounts import login_as

    with TestClient(create_app(tus_settings)) as client:
        login_as(client, tus_settings, "uploader", "uploader", org="东风村党支部")
        yield client


@pytest.fixture
def live_server(tus_settings: Any) -> Iterator[LiveServer]:
    with serve_in_thread(tus_settings) as server:
        yield server
