"""caption versions and transcript segments

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 02:51:31.997964
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('captionversion',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('author', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('engine', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('model', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('detected_language', sa.String(length=8), nullable=True),
    sa.Column('language_probability', sa.Float(), nullable=True),
    sa.Column('review_reasons', sa.Text(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('lesson_id', 'version', name='uq_captionversion_lesson_version')
    )
    with op.batch_alter_table('captionversion', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_captionversion_lesson_id'), ['lesson_id'], unique=False)

    op.create_table('transcriptsegment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('caption_version_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('start_s', sa.Float(), nullable=False),
    sa.Column('end_s', sa.Float(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('avg_logprob', sa.Float(), nullable=True),
    sa.Column('no_speech_prob', sa.Float(), nullable=True),
    sa.Column('compression_ratio', sa.Float(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('low_confidence', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['caption_version_id'], ['captionversion.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('transcriptsegment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transcriptsegment_caption_version_id'), ['caption_version_id'], unique=False)

    with op.batch_alter_table('lesson', schema=None) as batch_op:
        batch_op.add_column(sa.Column('detected_language', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('language_probability', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('caption_version', sa.Integer(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('lesson', schema=None) as batch_op:
        batch_op.drop_column('caption_version')
        batch_op.drop_column('language_probability')
        batch_op.drop_column('detected_language')

    with op.batch_alter_table('transcriptsegment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transcriptsegment_caption_version_id'))

    op.drop_table('transcriptsegment')
    with op.batch_alter_table('captionversion', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_captionversion_lesson_id'))

    op.drop_table('captionversion')
