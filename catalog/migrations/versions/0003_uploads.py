"""resumable uploads

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 02:51:31.997964
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('upload',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('length', sa.BigInteger(), nullable=False),
    sa.Column('offset', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('metadata_json', sa.Text(), nullable=False),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('staging_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('multipart_upload_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('parts_json', sa.Text(), nullable=False),
    sa.Column('buffered_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256_state', sa.LargeBinary(), nullable=True),
    sa.Column('client_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('lesson_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('error_code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('lock_owner', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('lock_expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_upload_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_upload_state'), ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upload_state'))
        batch_op.drop_index(batch_op.f('ix_upload_expires_at'))

    op.drop_table('upload')
