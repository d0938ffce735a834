"""global_settings.cluster, bgp_* and directors (several active directors behind ECMP)

Revision ID: 0007_ecmp_cluster
Revises: 0006_nat_router6
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = '0007_ecmp_cluster'
down_revision = '0006_nat_router6'
branch_labels = None
depends_on = None

COLUMNS = (
    ('cluster', sa.String(length=8), 'pair'), ('bgp_local_as', sa.BigInteger(), None),
    ('bgp_peers', sa.JSON(), '[]'), ('bgp_hold_time', sa.Integer(), None),
    ('bgp_bfd', sa.Boolean(), '0'), ('bgp_bird', sa.String(length=255), None),
    ('bgp_drain_seconds', sa.Float(), '5'), ('directors', sa.JSON(), '[]'),
)


def upgrade() -> None:
    with op.batch_alter_table('global_settings', schema=None) as batch_op:
        for name, kind, default in COLUMNS:
            # keys with a default are NOT NULL (the server default fills the existing row)
            batch_op.add_column(sa.Column(name, kind, nullable=default is None, server_default=default))


def downgrade() -> None:
    with op.batch_alter_table('global_settings', schema=None) as batch_op:
        for name, _kind, _default in reversed(COLUMNS):
            batch_op.drop_column(name)
