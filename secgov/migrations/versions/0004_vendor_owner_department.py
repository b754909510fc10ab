"""vendors belong to the department that registered them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 10:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# The department that registered each vendor is the one its newest "vendor.created" audit entry
# names (the registering user's department; a vendor id used again after a deletion takes the
# newer entry); a vendor without one, or whose department is gone, belongs to the city.
OWNER = """
UPDATE vendor SET department_id = COALESCE(
    (SELECT d.id FROM audit_entry a JOIN department d ON d.id = a.department_id
      WHERE a.action = 'vendor.created' AND a.object_type = 'vendor'
        AND a.object_id = CAST(vendor.id AS VARCHAR(64))
      ORDER BY a.seq DESC LIMIT 1),
    (SELECT id FROM department WHERE parent_id IS NULL)
)
"""


def upgrade() -> None:
    with op.batch_alter_table('vendor', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department_id', sa.Integer(), nullable=True))
    op.execute(OWNER)
    orphans = op.get_bind().execute(sa.text('SELECT count(*) FROM vendor WHERE department_id IS NULL')).scalar()
    if orphans:
        raise RuntimeError(f'{orphans} vendors have no department to belong to: create the city (root department) first')
    with op.batch_alter_table('vendor', schema=None) as batch_op:
        batch_op.alter_column('department_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f('ix_vendor_department_id'), ['department_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_vendor_department_id_department'), 'department', ['department_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('vendor', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_vendor_department_id_department'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_vendor_department_id'))
        batch_op.drop_column('department_id')
