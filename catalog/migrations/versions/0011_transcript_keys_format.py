"""copy detection: the transcript index keys' format replaces the unread MinHash signature column

Rows indexed before (format 1: 64 LSH bands of 2 values) keep format 1, so `weike similar backfill` and the next
`similarity` run re-key their transcripts (format 2: 128 bands of 1 value).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 04:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lessonfingerprint") as batch:
        batch.add_column(sa.Column("transcript_keys_format", sa.Integer(), nullable=False, server_default="1"))
        batch.drop_column("minhash")


def downgrade() -> None:
    with op.batch_alter_table("lessonfingerprint") as batch:
        batch.add_column(sa.Column("minhash", sa.LargeBinary(), nullable=True))
        batch.drop_column("transcript_keys_format")
