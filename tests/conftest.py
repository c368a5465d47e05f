"""Shared fixtures: generated media, the loopback S3 server, deployment stacks, a running worker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.support.s3server", "tests.support.stacks"]


def _test_settings(data_dir: Path, **overrides: object):  # type: ignore[no-untyped-def]
    from workers.settings import Settings

    base: dict[str, object] = {
        "data_dir": data_dir,
        "job_lease_s": 8.0,
        "sweep_interval_s": 2.0,
        "worker_heartbeat_s": 1.0,
        "job_stale_pending_s": 120.0,
    }
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture
def embedded_settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The `make run` shape: SQLite, folder store, SQLite broker."""
    from catalog.migrate import upgrade

    settings = _test_settings(tmp_path / "var")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    return settings


@pytest.fixture
def services_settings(tmp_path: Path, pg_database_url: str, redis_url: str, s3_server):  # type: ignore[no-untyped-def]
    """The docker-compose shape: PostgreSQL, S3 (minio client) on loopback, Redis broker."""
    from catalog.migrate import upgrade
    from ingest.storage import storage_from_url

    storage_url = s3_server.storage_url(f"weike-{uuid.uuid4().hex[:8]}")
    store = storage_from_url(storage_url)
    store.ensure_bucket()  # type: ignore[attr-defined]
    settings = _test_settings(tmp_path / "var", database_url=pg_database_url, storage_url=storage_url,
                              broker_url=redis_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    return settings


@pytest.fixture(params=["embedded", "services"])
def stack_settings(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return request.getfixturevalue(f"{request.param}_settings")


@pytest.fixture
def worker(stack_settings, tmp_path: Path) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A real Celery worker process (with the sweep) on the stack's settings."""
    from tests.support.stacks import start_worker, stop_worker, wait_for_heartbeat

    proc = start_worker(stack_settings, log_path=tmp_path / "worker.log")
    try:
        wait_for_heartbeat(stack_settings, proc)
        yield proc
    finally:
        stop_worker(proc)


@pytest.fixture
def client(stack_settings):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(stack_settings)) as c:
        yield c
