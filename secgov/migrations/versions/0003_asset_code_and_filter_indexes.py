"""asset codes unique regardless of case; indexes for the register's usual filters

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 07:10:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Fails on a register that already holds two codes differing only in case: the services
    # have refused such codes from the start, so only a hand-edited database can hold them.
    op.create_index('uq_asset_code_lower', 'asset', [sa.text('lower(code)')], unique=True)
    op.create_index('ix_asset_sector_level_code', 'asset', ['sector', 'mlps_level', 'code'], unique=False)
    op.create_index('ix_asset_sector_cii_code', 'asset', ['sector', 'is_cii', 'code'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_asset_sector_cii_code', table_name='asset')
    op.drop_index('ix_asset_sector_level_code', table_name='asset')
    op.drop_index('uq_asset_code_lower', table_name='asset')
