"""members' star ratings (十佳党课): one row per account and lesson

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lessonrating',
    sa.Column('lesson_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('stars', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.CheckConstraint('stars BETWEEN 1 AND 5', name='ck_lessonrating_stars'),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('lesson_id', 'account_id')
    )
    with op.batch_alter_table('lessonrating', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lessonrating_account_id'), ['account_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('lessonrating', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lessonrating_account_id'))

    op.drop_table('lessonrating')
