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


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_existing_lessons_enter_review_and_assets_get_random_ids(backend: str, tmp_path, request) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'm.sqlite3'}" if backend == "sqlite" else request.getfixturevalue("pg_database_url")
    upgrade(url, "0003")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO organisation (name, kind, parent_id, created_at) "
                          "VALUES ('东风村党支部', 'branch', NULL, CURRENT_TIMESTAMP)"))
        for lesson_id, status in (("a" * 32, "ready"), ("b" * 32, "queued"), ("c" * 32, "failed")):
            conn.execute(text(
                "INSERT INTO lesson (id, title, language, status, progress, original_key, original_sha256, size_bytes,"
                " created_at, updated_at, branch_id) VALUES (:id, '课', 'zh', :status, 0, 'originals/x', :sha, 1,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"), {"id": lesson_id, "status": status, "sha": lesson_id * 2})
            conn.execute(text(
                "INSERT INTO asset (lesson_id, kind, label, key, mime_type, size_bytes, sha256, created_at) "
                "VALUES (:id, 'original', '', 'originals/x', 'video/mp4', 1, 'x', CURRENT_TIMESTAMP)"), {"id": lesson_id})
    engine.dispose()
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        states = dict(conn.execute(text("SELECT id, review_state FROM lesson ORDER BY id")).all())
        assert states == {"a" * 32: "awaiting_review", "b" * 32: None, "c" * 32: None}
        featured = conn.execute(text("SELECT featured, revision FROM lesson")).all()
        assert {tuple(row) for row in featured} == {(False, 1)}
        ids = [row[0] for row in conn.execute(text("SELECT public_id FROM asset")).all()]
        assert len(ids) == 3 and len(set(ids)) == 3 and all(len(i) == 32 and not i.isdigit() for i in ids)
        branch = conn.execute(text("SELECT name, kind FROM organisation")).one()
        assert tuple(branch) == ("东风村党支部", "branch")  # branches from free-text uploads stay
    engine.dispose()
