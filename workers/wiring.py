"""Wiring: settings -> engine, storage, Celery sender, cached once per process.

With the prefork pool, each child process builds its own engine (a SQLAlchemy engine must not cross
a fork), hence the cache keyed by process id.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from catalog.db import make_engine
from ingest.storage import Storage, storage_from_url
from workers.settings import Settings, get_settings

if TYPE_CHECKING:
    from celery import Celery


@dataclass(frozen=True)
class Context:
    settings: Settings
    engine: Engine
    storage: Storage


_contexts: dict[tuple[int, int], Context] = {}
_senders: dict[str, Celery] = {}


def settings() -> Settings:
    return get_settings()


def prepare_data_dir(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.scratch_dir.mkdir(parents=True, exist_ok=True)


def context_for(settings: Settings) -> Context:
    key = (os.getpid(), id(settings))
    ctx = _contexts.get(key)
    if ctx is None:
        prepare_data_dir(settings)
        ctx = Context(
            settings=settings,
            engine=make_engine(settings.database_url),
            storage=storage_from_url(settings.storage_url, base_dir=settings.data_dir,
                                     scratch_dir=settings.scratch_dir),
        )
        _contexts[key] = ctx
    return ctx


def context() -> Context:
    return context_for(settings())


def sender_for(settings: Settings) -> Celery:
    """A Celery app used only to send tasks by name (the API and the CLI enqueue with it)."""
    from workers.app import make_celery

    app = _senders.get(settings.broker_url)
    if app is None:
        prepare_data_dir(settings)
        app = make_celery(settings)
        _senders[settings.broker_url] = app
    return app


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@contextmanager
def scratch_dir(settings: Settings) -> Iterator[Path]:
    """A private temporary folder for one job, removed on success, failure and time-out."""
    settings.scratch_dir.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"job-{os.getpid()}-", dir=settings.scratch_dir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# Scratch entries are named <kind>-<pid>-<random>: a job's folder, a local copy of an S3 object, a received upload.
SCRATCH_KINDS = frozenset({"job", "s3copy", "upload"})


def clean_orphaned_scratch(settings: Settings) -> int:
    """Remove scratch files and folders left by processes that no longer exist (a killed worker or API)."""
    removed = 0
    if not settings.scratch_dir.exists():
        return 0
    for entry in settings.scratch_dir.iterdir():
        parts = entry.name.split("-")
        if len(parts) < 3 or parts[0] not in SCRATCH_KINDS or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        try:
            os.kill(pid, 0)
            continue  # still alive
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    return removed
