"""`weike serve` makes the first administrator on embedded defaults (its password said once), and production
refuses to start without an administrator or with an example secret."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.services import free_port, port_open

REPO = Path(__file__).resolve().parents[2]


def _serve_output(tmp_path: Path, **env: str) -> str:
    """What `weike serve --no-worker` prints until it listens (then it is stopped)."""
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


def test_the_first_serve_makes_an_administrator_and_says_its_password_once(tmp_path: Path) -> None:
    first = _serve_output(tmp_path)
    found = re.search(r"password: (\S+)", first)
    assert found and "用户名 username: admin" in first and "只显示这一次" in first, first
    assert "/login" in first and "/upload" in first
    again = _serve_output(tmp_path)
    assert "password:" not in again and found.group(1) not in again, again
    # The password works, and only for admin.
    from catalog.accounts import authenticate
    from catalog.db import make_engine, unit_of_work

    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'weike.sqlite3'}")
    with unit_of_work(engine) as session:
        assert authenticate(session, "admin", found.group(1), max_failures=5, window_s=60).role == "admin"
    engine.dispose()


def _production_env(database_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "WEIKE_ENVIRONMENT": "production", "WEIKE_DATABASE_URL": database_url,
            "WEIKE_SECRET_KEY": "k" * 8 + secrets.token_urlsafe(32), "COLUMNS": "200", **extra}


def test_production_refuses_to_start_without_an_administrator(tmp_path: Path, pg_database_url: str) -> None:
    env = _production_env(pg_database_url, WEIKE_DATA_DIR=str(tmp_path / "var"))
    done = subprocess.run([sys.executable, "-m", "api.cli", "serve", "--no-worker", "--port", str(free_port())],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "还没有管理员账号" in done.stdout and "password:" not in done.stdout


@pytest.mark.parametrize("secret", ["", "change-me-please-change-me-please-change-me", "too-short"])
def test_production_refuses_a_missing_short_or_example_secret(tmp_path: Path, secret: str) -> None:
    from pydantic import ValidationError

    from workers.settings import Settings

    with pytest.raises(ValidationError, match="WEIKE_SECRET_KEY"):
        Settings(environment="production", data_dir=tmp_path, secret_key=secret,
                 database_url="postgresql+psycopg://weike:s3cret@db/weike")


def test_the_production_app_does_not_start_until_an_administrator_exists(tmp_path: Path,
                                                                         pg_database_url: str) -> None:
    """docker-compose runs `uvicorn api.asgi:app`, not `weike serve`: the app itself checks at start-up."""
    from fastapi.testclient import TestClient

    from api.app import NoAdministrator, create_app
    from catalog.migrate import upgrade
    from tests.support.accounts import make_account
    from workers.settings import Settings

    upgrade(pg_database_url)
    settings = Settings(environment="production", data_dir=tmp_path, database_url=pg_database_url,
                        secret_key=secrets.token_urlsafe(40))
    with pytest.raises(NoAdministrator), TestClient(create_app(settings)):
        pass
    make_account(settings, "county-admin", "admin")
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/review-reasons").status_code == 200
