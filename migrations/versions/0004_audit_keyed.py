"""audit_entry.keyed: entries hashed with the instance's audit key (HMAC) from now on

Existing entries keep their plain SHA-256 hashes and are marked unkeyed;
``audit verify`` checks them as before and the keyed chain continues from
the last of them.

Revision ID: 0004_audit_keyed
Revises: 0003_api_tokens
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = '0004_audit_keyed'
down_revision = '0003_api_tokens'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_entry') as batch:
        batch.add_column(sa.Column('keyed', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('audit_entry') as batch:
        batch.drop_column('keyed')
