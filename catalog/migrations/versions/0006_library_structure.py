"""library structure (speakers, series, tags, descriptions), publication dates, popularity, search documents

The search index moves from one row per lesson part to one document per lesson (`searchdocument`) so that the
database ranks and limits; `searchentry` keeps only transcript segments, for the sentences that say the words, and
loses its own full-text index. Published lessons get their documents from `weike search reindex` (`weike serve`
runs it for lessons that have none); until then they are found by nothing. `published_at` comes from the audit log
(the latest decision that published the lesson), else from the last update.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 21:15:32.644468
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


PARTS = "title, people, tags, places, description, flags, transcript"
SQLITE = [
    f"CREATE VIRTUAL TABLE searchdocument_fts USING fts5({PARTS}, content='searchdocument', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 0', prefix='2 3')",
    "CREATE TRIGGER searchdocument_fts_insert AFTER INSERT ON searchdocument BEGIN "
    f"INSERT INTO searchdocument_fts(rowid, {PARTS}) VALUES (new.id, new.title, new.people, new.tags, new.places, "
    "new.description, new.flags, new.transcript); END",
    "CREATE TRIGGER searchdocument_fts_delete AFTER DELETE ON searchdocument BEGIN "
    f"INSERT INTO searchdocument_fts(searchdocument_fts, rowid, {PARTS}) VALUES ('delete', old.id, old.title, "
    "old.people, old.tags, old.places, old.description, old.flags, old.transcript); END",
    "CREATE TRIGGER searchdocument_fts_update AFTER UPDATE ON searchdocument BEGIN "
    f"INSERT INTO searchdocument_fts(searchdocument_fts, rowid, {PARTS}) VALUES ('delete', old.id, old.title, "
    "old.people, old.tags, old.places, old.description, old.flags, old.transcript); "
    f"INSERT INTO searchdocument_fts(rowid, {PARTS}) VALUES (new.id, new.title, new.people, new.tags, new.places, "
    "new.description, new.flags, new.transcript); END",
    "DROP TRIGGER IF EXISTS searchentry_fts_insert",
    "DROP TRIGGER IF EXISTS searchentry_fts_delete",
    "DROP TRIGGER IF EXISTS searchentry_fts_update",
    "DROP TABLE IF EXISTS searchentry_fts",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS searchdocument_fts_insert",
    "DROP TRIGGER IF EXISTS searchdocument_fts_delete",
    "DROP TRIGGER IF EXISTS searchdocument_fts_update",
    "DROP TABLE IF EXISTS searchdocument_fts",
    "CREATE VIRTUAL TABLE searchentry_fts USING fts5(tokens, content='searchentry', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 0')",
    "INSERT INTO searchentry_fts(searchentry_fts) VALUES ('rebuild')",
    "CREATE TRIGGER searchentry_fts_insert AFTER INSERT ON searchentry BEGIN "
    "INSERT INTO searchentry_fts(rowid, tokens) VALUES (new.id, new.tokens); END",
    "CREATE TRIGGER searchentry_fts_delete AFTER DELETE ON searchentry BEGIN "
    "INSERT INTO searchentry_fts(searchentry_fts, rowid, tokens) VALUES ('delete', old.id, old.tokens); END",
    "CREATE TRIGGER searchentry_fts_update AFTER UPDATE ON searchentry BEGIN "
    "INSERT INTO searchentry_fts(searchentry_fts, rowid, tokens) VALUES ('delete', old.id, old.tokens); "
    "INSERT INTO searchentry_fts(rowid, tokens) VALUES (new.id, new.tokens); END",
]
# One lexeme per token, no parser in between; empty parts leave empty strings, which array_to_tsvector refuses.
POSTGRESQL = [
    "ALTER TABLE searchdocument ADD COLUMN tokens_tsv tsvector GENERATED ALWAYS AS (array_to_tsvector(array_remove("
    "string_to_array(title || ' ' || people || ' ' || tags || ' ' || places || ' ' || description || ' ' || "
    "flags || ' ' || transcript, ' '), ''))) STORED",
    "CREATE INDEX ix_searchdocument_tokens_tsv ON searchdocument USING gin (tokens_tsv)",
    # The head parts alone, so that ranking looks closely only at the few documents whose head holds a word.
    "ALTER TABLE searchdocument ADD COLUMN head_tsv tsvector GENERATED ALWAYS AS (array_to_tsvector(array_remove("
    "string_to_array(title || ' ' || people || ' ' || tags || ' ' || places || ' ' || description, ' '), ''))) "
    "STORED",
    "CREATE INDEX ix_searchdocument_head_tsv ON searchdocument USING gin (head_tsv)",
    "DROP INDEX IF EXISTS ix_searchentry_tokens_tsv",
    "ALTER TABLE searchentry DROP COLUMN IF EXISTS tokens_tsv",
]
POSTGRESQL_DOWN = [
    "ALTER TABLE searchentry ADD COLUMN tokens_tsv tsvector "
    "GENERATED ALWAYS AS (array_to_tsvector(string_to_array(tokens, ' '))) STORED",
    "CREATE INDEX ix_searchentry_tokens_tsv ON searchentry USING gin (tokens_tsv)",
]
PUBLISHED_AT = (
    "UPDATE lesson SET published_at = COALESCE((SELECT max(a.at) FROM auditentry a WHERE a.lesson_id = lesson.id "
    "AND a.to_state = 'published'), updated_at) WHERE review_state = 'published'"
)


def upgrade() -> None:
    op.create_table('series',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('series', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_series_title'), ['title'], unique=False)

    op.create_table('speaker',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('bio', sa.Text(), nullable=True),
    sa.Column('photo_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('speaker', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_speaker_name'), ['name'], unique=False)

    op.create_table('tag',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('lessondailycount',
    sa.Column('lesson_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('plays', sa.Integer(), nullable=False),
    sa.Column('downloads', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('lesson_id', 'day')
    )
    with op.batch_alter_table('lessondailycount', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lessondailycount_day'), ['day'], unique=False)

    op.create_table('lessontag',
    sa.Column('lesson_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tag_id'], ['tag.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('lesson_id', 'tag_id')
    )
    with op.batch_alter_table('lessontag', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lessontag_tag_id'), ['tag_id'], unique=False)

    op.create_table('searchdocument',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('people', sa.Text(), nullable=False),
    sa.Column('tags', sa.Text(), nullable=False),
    sa.Column('places', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('flags', sa.Text(), nullable=False),
    sa.Column('transcript', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('lesson_id')
    )
    with op.batch_alter_table('lesson', schema=None) as batch_op:
        batch_op.add_column(sa.Column('published_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('description', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('series_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('episode', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('speaker_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_lesson_published_at'), ['published_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_lesson_series_id'), ['series_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lesson_speaker_id'), ['speaker_id'], unique=False)
        batch_op.create_foreign_key('fk_lesson_speaker_id_speaker', 'speaker', ['speaker_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key('fk_lesson_series_id_series', 'series', ['series_id'], ['id'], ondelete='SET NULL')

    op.execute(PUBLISHED_AT)
    op.execute("DELETE FROM searchentry WHERE part <> 'transcript'")
    dialect = op.get_bind().dialect.name
    for statement in SQLITE if dialect == "sqlite" else POSTGRESQL if dialect == "postgresql" else []:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_DOWN if dialect == "sqlite" else POSTGRESQL_DOWN if dialect == "postgresql" else []:
        op.execute(statement)
    with op.batch_alter_table('lesson', schema=None) as batch_op:
        batch_op.drop_constraint('fk_lesson_series_id_series', type_='foreignkey')
        batch_op.drop_constraint('fk_lesson_speaker_id_speaker', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_lesson_speaker_id'))
        batch_op.drop_index(batch_op.f('ix_lesson_series_id'))
        batch_op.drop_index(batch_op.f('ix_lesson_published_at'))
        batch_op.drop_column('speaker_id')
        batch_op.drop_column('episode')
        batch_op.drop_column('series_id')
        batch_op.drop_column('description')
        batch_op.drop_column('published_at')

    op.drop_table('searchdocument')
    with op.batch_alter_table('lessontag', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lessontag_tag_id'))

    op.drop_table('lessontag')
    with op.batch_alter_table('lessondailycount', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lessondailycount_day'))

    op.drop_table('lessondailycount')
    op.drop_table('tag')
    with op.batch_alter_table('speaker', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_speaker_name'))

    op.drop_table('speaker')
    with op.batch_alter_table('series', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_series_title'))

    op.drop_table('series')

