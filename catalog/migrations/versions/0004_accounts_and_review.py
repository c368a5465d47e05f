"""accounts, sessions, audit log, review state, random asset ids

Existing databases come along: lessons already ready enter county review (awaiting_review), every asset gets a
random public id, branches named by earlier uploads stay where they are (under the county).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 18:14:45.245313
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('loginfailure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('loginfailure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loginfailure_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_loginfailure_username'), ['username'], unique=False)

    op.create_table('account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('token_epoch', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisation.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_org_id'), ['org_id'], unique=False)

    op.create_table('websession',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('websession', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_websession_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_websession_expires_at'), ['expires_at'], unique=False)

    op.create_table('auditentry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('lesson_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('from_state', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('to_state', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('reasons', sa.Text(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('auditentry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auditentry_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_auditentry_lesson_id'), ['lesson_id'], unique=False)

    with op.batch_alter_table('asset', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
    bind = op.get_bind()
    asset = sa.table('asset', sa.column('id', sa.Integer()), sa.column('public_id', sa.String()))
    for (asset_id,) in bind.execute(sa.select(asset.c.id)).all():
        bind.execute(asset.update().where(asset.c.id == asset_id).values(public_id=uuid.uuid4().hex))
    with op.batch_alter_table('asset', schema=None) as batch_op:
        batch_op.alter_column('public_id', existing_type=sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False)
        batch_op.create_index(batch_op.f('ix_asset_public_id'), ['public_id'], unique=True)

    with op.batch_alter_table('lesson', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_state', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('featured', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('revision', sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column('uploaded_by_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_lesson_review_state'), ['review_state'], unique=False)
        batch_op.create_index(batch_op.f('ix_lesson_uploaded_by_id'), ['uploaded_by_id'], unique=False)
        batch_op.create_foreign_key('fk_lesson_uploaded_by_id_account', 'account', ['uploaded_by_id'], ['id'],
                                    ondelete='SET NULL')
    lesson = sa.table('lesson', sa.column('status', sa.String()), sa.column('review_state', sa.String()))
    bind.execute(lesson.update().where(lesson.c.status == 'ready').values(review_state='awaiting_review'))

    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('branch_type', sa.String(length=16), nullable=True))

    op.create_table('lessonrevision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('original_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('original_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('original_filename', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('assets_json', sa.Text(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('replaced_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['account.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('lesson_id', 'number', name='uq_lessonrevision_lesson_number')
    )
    with op.batch_alter_table('lessonrevision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lessonrevision_lesson_id'), ['lesson_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lessonrevision_original_sha256'), ['original_sha256'], unique=False)

    with op.batch_alter_table('captionversion', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.Integer(), nullable=False, server_default="1"))

    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_upload_account_id_account', 'account', ['account_id'], ['id'],
                                    ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.drop_constraint('fk_upload_account_id_account', type_='foreignkey')
        batch_op.drop_column('account_id')

    with op.batch_alter_table('captionversion', schema=None) as batch_op:
        batch_op.drop_column('revision')

    with op.batch_alter_table('lessonrevision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lessonrevision_original_sha256'))
        batch_op.drop_index(batch_op.f('ix_lessonrevision_lesson_id'))

    op.drop_table('lessonrevision')

    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.drop_column('branch_type')

    with op.batch_alter_table('lesson', schema=None) as batch_op:
        batch_op.drop_constraint('fk_lesson_uploaded_by_id_account', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_lesson_uploaded_by_id'))
        batch_op.drop_index(batch_op.f('ix_lesson_review_state'))
        batch_op.drop_column('uploaded_by_id')
        batch_op.drop_column('revision')
        batch_op.drop_column('featured')
        batch_op.drop_column('review_state')

    with op.batch_alter_table('asset', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_asset_public_id'))
        batch_op.drop_column('public_id')

    with op.batch_alter_table('auditentry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auditentry_lesson_id'))
        batch_op.drop_index(batch_op.f('ix_auditentry_at'))

    op.drop_table('auditentry')
    with op.batch_alter_table('websession', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_websession_expires_at'))
        batch_op.drop_index(batch_op.f('ix_websession_account_id'))

    op.drop_table('websession')
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_org_id'))

    op.drop_table('account')
    with op.batch_alter_table('loginfailure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loginfailure_username'))
        batch_op.drop_index(batch_op.f('ix_loginfailure_at'))

    op.drop_table('loginfailure')
