"""Accountability: a responsibility term may correct an earlier one (whose holder had been
recorded wrongly), so that the accountability trace shows a correction as such.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("responsibility") as batch:
        batch.add_column(sa.Column("corrects_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_responsibility_corrects_id_responsibility"), "responsibility", ["corrects_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("responsibility") as batch:
        batch.drop_constraint(batch.f("fk_responsibility_corrects_id_responsibility"), type_="foreignkey")
        batch.drop_column("corrects_id")
