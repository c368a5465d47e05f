"""the daily broadcast (党课大家听): one programme per day and scope (the county, or a township)

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-12 10:02:11.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('broadcastprogramme',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('township_id', sa.Integer(), nullable=False),
    sa.Column('target_s', sa.Integer(), nullable=False),
    sa.Column('slots_json', sa.Text(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('day', 'township_id', name='uq_broadcastprogramme_day_township')
    )
    with op.batch_alter_table('broadcastprogramme', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_broadcastprogramme_day'), ['day'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('broadcastprogramme', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_broadcastprogramme_day'))

    op.drop_table('broadcastprogramme')
