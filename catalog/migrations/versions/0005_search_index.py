"""search index: segmented tokens per lesson part and transcript segment, with a full-text index

SQLite gets an FTS5 table over the tokens (external content, kept in step by triggers); PostgreSQL a generated
tsvector column (one lexeme per token, no parser in between) with a GIN index. The index starts empty: run
`weike search reindex` once to fill it for lessons published before this migration.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-20 10:02:11.412907
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SQLITE_FTS = [
    "CREATE VIRTUAL TABLE searchentry_fts USING fts5(tokens, content='searchentry', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER searchentry_fts_insert AFTER INSERT ON searchentry BEGIN "
    "INSERT INTO searchentry_fts(rowid, tokens) VALUES (new.id, new.tokens); END",
    "CREATE TRIGGER searchentry_fts_delete AFTER DELETE ON searchentry BEGIN "
    "INSERT INTO searchentry_fts(searchentry_fts, rowid, tokens) VALUES ('delete', old.id, old.tokens); END",
    "CREATE TRIGGER searchentry_fts_update AFTER UPDATE ON searchentry BEGIN "
    "INSERT INTO searchentry_fts(searchentry_fts, rowid, tokens) VALUES ('delete', old.id, old.tokens); "
    "INSERT INTO searchentry_fts(rowid, tokens) VALUES (new.id, new.tokens); END",
]
POSTGRESQL_TSV = [
    "ALTER TABLE searchentry ADD COLUMN tokens_tsv tsvector "
    "GENERATED ALWAYS AS (array_to_tsvector(string_to_array(tokens, ' '))) STORED",
    "CREATE INDEX ix_searchentry_tokens_tsv ON searchentry USING gin (tokens_tsv)",
]


def upgrade() -> None:
    op.create_table('searchentry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('part', sa.String(length=16), nullable=False),
    sa.Column('segment_id', sa.Integer(), nullable=True),
    sa.Column('tokens', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['segment_id'], ['transcriptsegment.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('searchentry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_searchentry_lesson_id'), ['lesson_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_searchentry_segment_id'), ['segment_id'], unique=False)

    dialect = op.get_bind().dialect.name
    for statement in SQLITE_FTS if dialect == "sqlite" else POSTGRESQL_TSV if dialect == "postgresql" else []:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("searchentry_fts_insert", "searchentry_fts_delete", "searchentry_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS searchentry_fts")
    with op.batch_alter_table('searchentry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_searchentry_segment_id'))
        batch_op.drop_index(batch_op.f('ix_searchentry_lesson_id'))

    op.drop_table('searchentry')
