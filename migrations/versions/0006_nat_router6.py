"""global_settings.nat_router6 / nat_router6_device / nat_nmask6 (the IPv6 NAT gateway)

Revision ID: 0006_nat_router6
Revises: 0005_health_check_keys
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = '0006_nat_router6'
down_revision = '0005_health_check_keys'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('global_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nat_router6', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('nat_router6_device', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('nat_nmask6', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('global_settings', schema=None) as batch_op:
        batch_op.drop_column('nat_nmask6')
        batch_op.drop_column('nat_router6_device')
        batch_op.drop_column('nat_router6')
