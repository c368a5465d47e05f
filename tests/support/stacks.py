"""Deployment shapes for tests: the embedded defaults and the production-like services.

- ``embedded``: SQLite, folder store, Celery on kombu's SQLAlchemy transport (what `make run` uses).
- ``services``: PostgreSQL, the S3 path (minio client) on a loopback S3 server, Redis broker
  (what docker-compose.yml runs).
Each gives a :class:`~workers.settings.Settings`, and :func:`start_worker` runs a real Celery worker
process on it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.services import missing, port_open

PG_ADMIN_URL = os.environ.get("WEIKE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("WEIKE_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


def _pg_exec(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def pg_server() -> str:
    if not port_open("127.0.0.1", 5432):
        missing("PostgreSQL on 127.0.0.1:5432")
    return PG_ADMIN_URL


def _pg_url(pg_server: str, name: str) -> str:
    return f"{pg_server.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+psycopg://')}/{name}"


_templates: dict[str, str] = {}  # per test process: the PostgreSQL template database, the SQLite template file


def _pg_template(pg_server: str) -> str:
    """A database migrated to the newest revision once per test process, copied for each test (CREATE DATABASE
    … TEMPLATE copies its files: a fraction of what running every migration costs)."""
    if "pg" not in _templates:
        from catalog.migrate import upgrade

        name = f"weike_template_{uuid.uuid4().hex[:10]}"
        _pg_exec(f'CREATE DATABASE "{name}"')
        atexit.register(_pg_exec, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        upgrade(_pg_url(pg_server, name))  # alembic connects without a pool: nothing stays connected to it
        _templates["pg"] = name
    return _templates["pg"]


def _sqlite_template() -> Path:
    """A SQLite database migrated to the newest revision once per test process, copied for each test."""
    if "sqlite" not in _templates:
        import sqlite3
        import tempfile

        from catalog.migrate import upgrade

        folder = Path(tempfile.mkdtemp(prefix="weike-template-"))
        atexit.register(shutil.rmtree, folder, True)
        path = folder / "weike.sqlite3"
        upgrade(f"sqlite:///{path}")
        with sqlite3.connect(path) as conn:  # everything in the main file, so the file alone is the database
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _templates["sqlite"] = str(path)
    return Path(_templates["sqlite"])


def _migrated_sqlite(database_url: str) -> None:
    """The SQLite database at `database_url` at the newest revision: a copy of the template when it does not exist
    yet, else migrated in place (a test that builds settings twice on one folder, as a restart does)."""
    from catalog.migrate import upgrade

    path = Path(database_url.removeprefix("sqlite:///"))
    if database_url.startswith("sqlite:///") and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_sqlite_template(), path)
        return  # the template is at the newest revision already
    upgrade(database_url)


@contextmanager
def fresh_pg_database(pg_server: str, *, migrated: bool = False) -> Iterator[str]:
    """A fresh PostgreSQL database, empty or (`migrated`) at the newest revision; dropped afterwards."""
    name = f"weike_test_{uuid.uuid4().hex[:10]}"
    _pg_exec(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{_pg_template(pg_server)}"' if migrated else ""))
    try:
        yield _pg_url(pg_server, name)
    finally:
        _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database_url(pg_server: str) -> Iterator[str]:
    with fresh_pg_database(pg_server) as url:
        yield url


def clean_redis() -> str:
    """The test Redis database, emptied (a broker with no leftover messages)."""
    if not port_open("127.0.0.1", 6379):
        missing("Redis on 127.0.0.1:6379")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()
    return REDIS_URL


@pytest.fixture
def redis_url() -> str:
    return clean_redis()


def settings_env(settings: object) -> dict[str, str]:
    """The WEIKE_* environment that reproduces these settings in another process."""
    from workers.settings import Settings

    assert isinstance(settings, Settings)
    env = {
        "WEIKE_DATA_DIR": str(settings.data_dir),
        "WEIKE_DATABASE_URL": settings.database_url,
        "WEIKE_STORAGE_URL": settings.storage_url,
        "WEIKE_BROKER_URL": settings.broker_url,
        "WEIKE_JOB_LEASE_S": str(settings.job_lease_s),
        "WEIKE_PACK_LEASE_S": str(settings.pack_lease_s),
        "WEIKE_PACK_SWEEP_INTERVAL_S": str(settings.pack_sweep_interval_s),
        "WEIKE_PACK_WARM_INTROS": str(settings.pack_warm_intros).lower(),
        "WEIKE_SWEEP_INTERVAL_S": str(settings.sweep_interval_s),
        "WEIKE_WORKER_HEARTBEAT_S": str(settings.worker_heartbeat_s),
        "WEIKE_WORKER_CONCURRENCY": str(settings.worker_concurrency),
        "WEIKE_JOB_MAX_ATTEMPTS": str(settings.job_max_attempts),
        "WEIKE_X264_PRESET": settings.x264_preset,
        "WEIKE_X264_LARGE_RUNG_PARAMS": settings.x264_large_rung_params,
        "WEIKE_ASR_ENABLED": str(settings.asr_enabled).lower(),
        "WEIKE_MODELS_DIR": str(settings.models_dir),
        "WEIKE_PASSWORD_HASHING": settings.password_hashing,
    }
    for field, value in settings.limits.model_dump().items():
        env[f"WEIKE_LIMITS__{field.upper()}"] = str(value)
    return env


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def start_worker(settings: object, *, log_path: Path, beat: bool = True) -> WorkerProcess:
    """A real Celery worker process (`weike worker`) on these settings."""
    env = {**os.environ, **settings_env(settings), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "api.cli", "worker"] + ([] if beat else ["--no-beat"])
    out = open(log_path, "ab")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                            cwd=Path(__file__).resolve().parents[2])
    out.close()
    return WorkerProcess(proc, log_path)


def wait_for_heartbeat(settings: object, worker: WorkerProcess, timeout_s: float = 60.0) -> None:
    from catalog.db import unit_of_work
    from catalog.heartbeats import fresh_workers
    from workers.wiring import context_for

    ctx = context_for(settings)  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.proc.poll() is not None:
            raise AssertionError(f"worker exited with {worker.proc.returncode}:\n{worker.log_tail()}")
        with unit_of_work(ctx.engine) as session:
            if fresh_workers(session, within_s=30):
                return
        time.sleep(0.3)
    raise AssertionError(f"worker never reported in:\n{worker.log_tail()}")


def stop_worker(worker: WorkerProcess) -> None:
    from workers.embedded import stop_worker as stop

    stop(worker.proc, timeout_s=20)


def test_settings(data_dir: Path, **overrides: object):  # type: ignore[no-untyped-def]
    """Settings for tests: short leases and a quick sweep so that crash recovery is seen in seconds."""
    from workers.settings import Settings

    base: dict[str, object] = {
        "data_dir": data_dir,
        "job_lease_s": 8.0,
        "sweep_interval_s": 2.0,
        "pack_lease_s": 8.0,
        "pack_sweep_interval_s": 2.0,
        # Saying intro clips ahead of time would keep a test's worker busy: the tests that want it ask for it.
        "pack_warm_intros": False,
        "worker_heartbeat_s": 1.0,
        "job_stale_pending_s": 120.0,
        # Speech recognition is slow on a small CPU: tests that want captions ask for them (asr_enabled=True).
        "asr_enabled": False,
        # Hundreds of accounts are made and logged in: cheap Argon2id parameters, every check still made.
        "password_hashing": "fast",
    }
    base.update(overrides)
    settings = Settings(**base)  # type: ignore[arg-type]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def build_embedded(data_dir: Path, **overrides: object):  # type: ignore[no-untyped-def]
    """The `make run` shape: SQLite, folder store, SQLite broker."""
    settings = test_settings(data_dir, **overrides)
    _migrated_sqlite(settings.database_url)
    return settings


def build_services(data_dir: Path, *, database_url: str, broker_url: str, s3_server: object,
                   **overrides: object):  # type: ignore[no-untyped-def]
    """The docker-compose shape: PostgreSQL (`database_url`, at the newest revision: a copy of the migrated
    template), S3 through the minio client, Redis broker."""
    from ingest.storage import storage_from_url

    storage_url = s3_server.storage_url(f"weike-{uuid.uuid4().hex[:8]}")  # type: ignore[attr-defined]
    storage_from_url(storage_url).ensure_bucket()  # type: ignore[attr-defined]
    settings = test_settings(data_dir, database_url=database_url, storage_url=storage_url, broker_url=broker_url,
                             **overrides)
    return settings


@contextmanager
def stack(kind: str, data_dir: Path, request: pytest.FixtureRequest, **overrides: object) -> Iterator[object]:
    """Settings for one deployment shape; PostgreSQL database dropped afterwards."""
    if kind == "embedded":
        yield build_embedded(data_dir, **overrides)
        return
    s3 = request.getfixturevalue("s3_server")
    with fresh_pg_database(request.getfixturevalue("pg_server"), migrated=True) as db_url:
        yield build_services(data_dir, database_url=db_url, broker_url=clean_redis(), s3_server=s3, **overrides)


@contextmanager
def running_worker(settings: object, log_path: Path) -> Iterator[WorkerProcess]:
    worker = start_worker(settings, log_path=log_path)
    try:
        wait_for_heartbeat(settings, worker)
        yield worker
    finally:
        stop_worker(worker)
