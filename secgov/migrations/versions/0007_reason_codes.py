"""the grade history's "registered" reason stored as a code, shown in the reader's language

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 11:00:00
"""

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Earlier versions stored the reason translated into the registering user's language.
    op.execute("UPDATE asset_grade SET reason = 'registered' WHERE reason IN ('登记', 'Registered')")


def downgrade() -> None:
    pass  # the code reads as well as the old words: nothing to take back
