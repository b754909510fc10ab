"""asset inventory and responsibilities

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 04:04:21.782499
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('control',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('catalog', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('family', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('extension', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('area', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('title_zh', sa.Text(), nullable=False),
    sa.Column('title_en', sa.Text(), nullable=False),
    sa.Column('levels', sa.JSON(), nullable=False),
    sa.Column('parent', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_control'))
    )
    with op.batch_alter_table('control', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_control_catalog'), ['catalog'], unique=False)

    op.create_table('vendor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('origin', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('confidentiality_agreement_on', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vendor')),
    sa.UniqueConstraint('name', name=op.f('uq_vendor_name'))
    )
    with op.batch_alter_table('vendor', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vendor_origin'), ['origin'], unique=False)

    op.create_table('asset',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('sector', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('mlps_level', sa.Integer(), nullable=True),
    sa.Column('mlps_filing_number', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('mlps_extensions', sa.JSON(), nullable=False),
    sa.Column('is_cii', sa.Boolean(), nullable=False),
    sa.Column('classified', sa.Boolean(), nullable=False),
    sa.Column('data_level', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('lifecycle', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('network_targets', sa.JSON(), nullable=False),
    sa.Column('expected_ports', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_asset_department_id_department')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_asset')),
    sa.UniqueConstraint('code', name=op.f('uq_asset_code'))
    )
    with op.batch_alter_table('asset', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_asset_classified'), ['classified'], unique=False)
        batch_op.create_index(batch_op.f('ix_asset_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_asset_is_cii'), ['is_cii'], unique=False)
        batch_op.create_index(batch_op.f('ix_asset_lifecycle'), ['lifecycle'], unique=False)
        batch_op.create_index(batch_op.f('ix_asset_mlps_level'), ['mlps_level'], unique=False)
        batch_op.create_index(batch_op.f('ix_asset_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_asset_sector'), ['sector'], unique=False)

    op.create_table('asset_control',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('control_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('reviewer', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('reviewed_on', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['asset.id'], name=op.f('fk_asset_control_asset_id_asset'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['control_id'], ['control.id'], name=op.f('fk_asset_control_control_id_control')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_asset_control')),
    sa.UniqueConstraint('asset_id', 'control_id', name=op.f('uq_asset_control_asset_id_control_id'))
    )
    with op.batch_alter_table('asset_control', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_asset_control_asset_id'), ['asset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_asset_control_control_id'), ['control_id'], unique=False)

    op.create_table('asset_grade',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('mlps_level', sa.Integer(), nullable=True),
    sa.Column('mlps_filing_number', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['asset.id'], name=op.f('fk_asset_grade_asset_id_asset'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_asset_grade'))
    )
    with op.batch_alter_table('asset_grade', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_asset_grade_asset_id'), ['asset_id'], unique=False)

    op.create_table('engagement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('vendor_id', sa.Integer(), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('started_on', sa.Date(), nullable=True),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['asset.id'], name=op.f('fk_engagement_asset_id_asset'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendor.id'], name=op.f('fk_engagement_vendor_id_vendor')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engagement'))
    )
    with op.batch_alter_table('engagement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_engagement_asset_id'), ['asset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_engagement_vendor_id'), ['vendor_id'], unique=False)

    op.create_table('responsibility',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_type', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('duty', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('assigned_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_responsibility_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_responsibility'))
    )
    with op.batch_alter_table('responsibility', schema=None) as batch_op:
        batch_op.create_index('ix_responsibility_subject', ['subject_type', 'subject_id', 'duty', 'valid_to'], unique=False)
        batch_op.create_index(batch_op.f('ix_responsibility_user_id'), ['user_id'], unique=False)

    op.create_table('vendor_exemption',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('engagement_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('requested_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.ForeignKeyConstraint(['engagement_id'], ['engagement.id'], name=op.f('fk_vendor_exemption_engagement_id_engagement'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vendor_exemption'))
    )
    with op.batch_alter_table('vendor_exemption', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vendor_exemption_engagement_id'), ['engagement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_vendor_exemption_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('vendor_exemption', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vendor_exemption_status'))
        batch_op.drop_index(batch_op.f('ix_vendor_exemption_engagement_id'))

    op.drop_table('vendor_exemption')
    with op.batch_alter_table('responsibility', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_responsibility_user_id'))
        batch_op.drop_index('ix_responsibility_subject')

    op.drop_table('responsibility')
    with op.batch_alter_table('engagement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_engagement_vendor_id'))
        batch_op.drop_index(batch_op.f('ix_engagement_asset_id'))

    op.drop_table('engagement')
    with op.batch_alter_table('asset_grade', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_asset_grade_asset_id'))

    op.drop_table('asset_grade')
    with op.batch_alter_table('asset_control', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_asset_control_control_id'))
        batch_op.drop_index(batch_op.f('ix_asset_control_asset_id'))

    op.drop_table('asset_control')
    with op.batch_alter_table('asset', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_asset_sector'))
        batch_op.drop_index(batch_op.f('ix_asset_name'))
        batch_op.drop_index(batch_op.f('ix_asset_mlps_level'))
        batch_op.drop_index(batch_op.f('ix_asset_lifecycle'))
        batch_op.drop_index(batch_op.f('ix_asset_is_cii'))
        batch_op.drop_index(batch_op.f('ix_asset_department_id'))
        batch_op.drop_index(batch_op.f('ix_asset_classified'))

    op.drop_table('asset')
    with op.batch_alter_table('vendor', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vendor_origin'))

    op.drop_table('vendor')
    with op.batch_alter_table('control', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_control_catalog'))

    op.drop_table('control')
