"""virtual_server and real_server health-check keys (fall, rise, check_*, agent_port, slowstart)

Revision ID: 0005_health_check_keys
Revises: 0004_audit_keyed
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = '0005_health_check_keys'
down_revision = '0004_audit_keyed'
branch_labels = None
depends_on = None

COLUMNS = (
    ('fall', sa.Integer()), ('rise', sa.Integer()), ('check_interval', sa.Float()),
    ('check_timeout', sa.Float()), ('check', sa.String(length=16)), ('check_path', sa.Text()),
    ('check_host', sa.String(length=255)), ('check_status', sa.String(length=255)),
    ('check_body', sa.Text()), ('check_digest', sa.String(length=64)), ('check_port', sa.Integer()),
    ('check_verify', sa.Boolean()), ('check_ca_file', sa.Text()), ('check_query', sa.String(length=255)),
    ('check_qtype', sa.String(length=16)), ('check_dynamic', sa.Boolean()), ('agent_port', sa.Integer()),
    ('slowstart', sa.Float()),
)


def upgrade() -> None:
    for table in ('virtual_server', 'real_server'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, kind in COLUMNS:
                batch_op.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    for table in ('virtual_server', 'real_server'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, _ in COLUMNS:
                batch_op.drop_column(name)
