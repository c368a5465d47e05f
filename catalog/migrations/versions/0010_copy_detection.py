"""copy detection: lessons' fingerprints, the similarity index and the matches

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 03:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lessonfingerprint',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('caption_version', sa.Integer(), nullable=True),
    sa.Column('transcript', sa.LargeBinary(), nullable=True),
    sa.Column('minhash', sa.LargeBinary(), nullable=True),
    sa.Column('footage', sa.LargeBinary(), nullable=True),
    sa.Column('sound', sa.LargeBinary(), nullable=True),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('lesson_id')
    )
    op.create_table('similaritykey',
    sa.Column('key', sa.BigInteger(), nullable=False),
    sa.Column('fingerprint_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['fingerprint_id'], ['lessonfingerprint.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key', 'fingerprint_id')
    )
    with op.batch_alter_table('similaritykey', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_similaritykey_fingerprint_id'), ['fingerprint_id'], unique=False)

    op.create_table('lessonmatch',
    sa.Column('lesson_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('other_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('transcript', sa.Float(), nullable=True),
    sa.Column('footage', sa.Float(), nullable=True),
    sa.Column('sound', sa.Float(), nullable=True),
    sa.Column('spans_json', sa.Text(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['other_id'], ['lesson.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('lesson_id', 'other_id')
    )
    with op.batch_alter_table('lessonmatch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lessonmatch_other_id'), ['other_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('lessonmatch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lessonmatch_other_id'))

    op.drop_table('lessonmatch')
    with op.batch_alter_table('similaritykey', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_similaritykey_fingerprint_id'))

    op.drop_table('similaritykey')
    op.drop_table('lessonfingerprint')
