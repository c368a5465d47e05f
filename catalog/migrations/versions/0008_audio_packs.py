"""audio packs: packs, their versions and tracks

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 00:55:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audiopack',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('audience', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('selection_json', sa.Text(), nullable=True),
    sa.Column('lesson_ids_json', sa.Text(), nullable=True),
    sa.Column('track_order', sa.String(length=16), nullable=False),
    sa.Column('spoken_intros', sa.Boolean(), nullable=False),
    sa.Column('quarter', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('stale', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['account.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('quarter')
    )
    with op.batch_alter_table('audiopack', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audiopack_stale'), ['stale'], unique=False)

    op.create_table('audiopackversion',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pack_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('error_code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('lease_owner', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('lease_expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('built_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['pack_id'], ['audiopack.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('pack_id', 'version', name='uq_audiopackversion_pack_version')
    )
    with op.batch_alter_table('audiopackversion', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audiopackversion_pack_id'), ['pack_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audiopackversion_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_audiopackversion_expires_at'), ['expires_at'], unique=False)

    op.create_table('audiopacktrack',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['version_id'], ['audiopackversion.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_id', 'n')
    )
    with op.batch_alter_table('audiopacktrack', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audiopacktrack_lesson_id'), ['lesson_id'], unique=False)


def downgrade() -> None:
    op.drop_table('audiopacktrack')
    op.drop_table('audiopackversion')
    op.drop_table('audiopack')
