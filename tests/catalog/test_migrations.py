"""Alembic migrations run forward and back on SQLite and PostgreSQL, and seed the categories."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from catalog.db import make_engine, unit_of_work
from catalog.migrate import downgrade, upgrade
from catalog.organisations import CATEGORY_SEED, list_categories


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_upgrade_downgrade_and_seed_categories(backend: str, tmp_path, request) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}" if backend == "sqlite" else request.getfixturevalue("pg_database_url")
    upgrade(url)
    engine = make_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert {"lesson", "asset", "job", "organisation", "category", "workerheartbeat"} <= tables
    with unit_of_work(engine) as s:
        assert [(c.slug, c.name) for c in list_categories(s)] == list(CATEGORY_SEED)
    engine.dispose()
    downgrade(url, "base")
    engine = make_engine(url)
    assert "lesson" not in inspect(engine).get_table_names()
    engine.dispose()
    upgrade(url)
