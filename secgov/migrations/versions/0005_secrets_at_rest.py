"""TOTP secrets encrypted at rest: room for their encrypted form; the pending enrolment key on the
user's row (encrypted too) with its creation time

The encryption itself is done by `python -m secgov db upgrade` after the migrations, with the data
keys, which this revision does not have (secgov.auth.encrypt_plain_secrets).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _retype_on_sqlite(column: str, new_type: str) -> None:
    # A batch migration would copy "user" into a new table and drop the old one, and dropping it
    # deletes every row first, which cascades to user_role and api_token. SQLite changes a
    # column's declared type only that way, so the column is replaced in place instead: a new one
    # beside it, the values copied, the old one dropped and the new one renamed.
    op.execute(f'ALTER TABLE "user" ADD COLUMN {column}_new {new_type}')
    op.execute(f'UPDATE "user" SET {column}_new = {column}')
    op.execute(f'ALTER TABLE "user" DROP COLUMN {column}')
    op.execute(f'ALTER TABLE "user" RENAME COLUMN {column}_new TO {column}')


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _retype_on_sqlite('totp_secret', 'VARCHAR(255)')
    else:
        op.alter_column(
            'user', 'totp_secret', existing_type=sa.String(length=64), type_=sa.String(length=255), existing_nullable=True
        )
    op.add_column('user', sa.Column('totp_pending', sa.String(length=255), nullable=True))
    op.add_column('user', sa.Column('totp_pending_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # The code before this revision reads TOTP secrets in plain text: encrypted ones would lock
    # their users out (and do not fit the narrower column). Refuse rather than lose them.
    encrypted = op.get_bind().execute(
        sa.text('SELECT count(*) FROM "user" WHERE totp_secret IS NOT NULL AND length(totp_secret) > 64')
    ).scalar()
    if encrypted:
        raise RuntimeError(
            f'the database holds {encrypted} encrypted TOTP secrets, which the code before this revision'
            ' cannot read: reset the two-factor authentication of those users first, or restore a backup'
            ' made before the upgrade'
        )
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE "user" DROP COLUMN totp_pending_at')
        op.execute('ALTER TABLE "user" DROP COLUMN totp_pending')
        _retype_on_sqlite('totp_secret', 'VARCHAR(64)')
    else:
        op.drop_column('user', 'totp_pending_at')
        op.drop_column('user', 'totp_pending')
        op.alter_column(
            'user', 'totp_secret', existing_type=sa.String(length=255), type_=sa.String(length=64), existing_nullable=True
        )
