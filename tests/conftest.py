"""Shared fixtures: generated media, the loopback S3 server, deployment stacks, a running worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.support.media", "tests.support.speech", "tests.support.s3server", "tests.support.stacks",
                  "tests.support.packs"]

STACKS = ["embedded", "services"]


def pytest_configure(config: pytest.Config) -> None:
    """Accounts the tests make in this process (tests/support/accounts.py) get the test settings' cheap Argon2id
    parameters, as the apps and CLI commands the tests start do (Settings.password_hashing)."""
    from catalog.accounts import use_password_hashing

    use_password_hashing("fast")


@pytest.fixture(params=STACKS)
def stack_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """Settings of one deployment shape: `embedded` (make run) or `services` (docker-compose)."""
    from tests.support.stacks import stack

    with stack(request.param, tmp_path / "var", request) as settings:
        yield settings


@pytest.fixture
def worker(stack_settings: object, tmp_path: Path) -> Iterator[object]:
    """A real Celery worker process (with the sweep) on the stack's settings."""
    from tests.support.stacks import running_worker

    with running_worker(stack_settings, tmp_path / "worker.log") as proc:
        yield proc


@pytest.fixture
def client(stack_settings: object) -> Iterator[object]:
    """The API, logged in as a county reviewer (who may upload for any branch and sees every lesson)."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.support.accounts import login_as

    with TestClient(create_app(stack_settings)) as c:  # type: ignore[arg-type]
        login_as(c, stack_settings, "reviewer", "reviewer")
        yield c


@pytest.fixture
def anonymous(stack_settings: object) -> Iterator[object]:
    """The API as somebody who has not logged in."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(stack_settings)) as c:  # type: ignore[arg-type]
        yield c
