"""initial

Revision ID: 0001
Revises: 
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ts', sa.DateTime(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('client_addr', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=64), nullable=False),
    sa.Column('object_name', sa.String(length=255), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('hash'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entry_ts'), ['ts'], unique=False)

    op.create_table('failover_service',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.Column('device', sa.String(length=32), nullable=True),
    sa.Column('vip_nmask', sa.String(length=32), nullable=True),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('send', sa.Text(), nullable=True),
    sa.Column('expect', sa.Text(), nullable=True),
    sa.Column('timeout', sa.Float(), nullable=False),
    sa.Column('reentry', sa.Float(), nullable=False),
    sa.Column('start_cmd', sa.Text(), nullable=True),
    sa.Column('stop_cmd', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    sqlite_autoincrement=True
    )
    op.create_table('global_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('serial_no', sa.Integer(), nullable=False),
    sa.Column('primary', sa.String(length=255), nullable=True),
    sa.Column('primary_private', sa.String(length=255), nullable=True),
    sa.Column('primary_shared', sa.String(length=255), nullable=True),
    sa.Column('service', sa.String(length=8), nullable=False),
    sa.Column('rsh_command', sa.String(length=255), nullable=True),
    sa.Column('backup_active', sa.Boolean(), nullable=False),
    sa.Column('backup', sa.String(length=255), nullable=True),
    sa.Column('backup_private', sa.String(length=255), nullable=True),
    sa.Column('backup_shared', sa.String(length=255), nullable=True),
    sa.Column('heartbeat', sa.Boolean(), nullable=False),
    sa.Column('heartbeat_port', sa.Integer(), nullable=False),
    sa.Column('keepalive', sa.Float(), nullable=False),
    sa.Column('deadtime', sa.Float(), nullable=False),
    sa.Column('network', sa.String(length=8), nullable=False),
    sa.Column('nat_router', sa.String(length=64), nullable=True),
    sa.Column('nat_router_device', sa.String(length=32), nullable=True),
    sa.Column('nat_nmask', sa.String(length=32), nullable=True),
    sa.Column('reservation_conflict_action', sa.String(length=16), nullable=True),
    sa.Column('debug_level', sa.String(length=16), nullable=False),
    sa.Column('active_cmd', sa.Text(), nullable=True),
    sa.Column('inactive_cmd', sa.Text(), nullable=True),
    sa.Column('monitor_links', sa.Integer(), nullable=False),
    sa.Column('syncdaemon', sa.Boolean(), nullable=False),
    sa.Column('syncd_iface', sa.String(length=32), nullable=True),
    sa.Column('syncd_id', sa.Integer(), nullable=True),
    sa.Column('tcp_timeout', sa.Integer(), nullable=False),
    sa.Column('tcpfin_timeout', sa.Integer(), nullable=False),
    sa.Column('udp_timeout', sa.Integer(), nullable=False),
    sa.Column('hard_shutdown', sa.Boolean(), nullable=False),
    sa.Column('ipvsadm', sa.String(length=255), nullable=True),
    sa.Column('sync', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('revision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('serial_no', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('pulse_result', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    op.create_table('user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('session_epoch', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('password_changed_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username'),
    sqlite_autoincrement=True
    )
    op.create_table('virtual_server',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.Column('device', sa.String(length=32), nullable=True),
    sa.Column('vip_nmask', sa.String(length=32), nullable=True),
    sa.Column('sorry_server', sa.String(length=64), nullable=True),
    sa.Column('fwmark', sa.Integer(), nullable=True),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('protocol', sa.String(length=8), nullable=False),
    sa.Column('scheduler', sa.String(length=8), nullable=False),
    sa.Column('persistent', sa.Integer(), nullable=False),
    sa.Column('pmask', sa.String(length=32), nullable=True),
    sa.Column('send', sa.Text(), nullable=True),
    sa.Column('expect', sa.Text(), nullable=True),
    sa.Column('use_regex', sa.Boolean(), nullable=False),
    sa.Column('send_program', sa.Text(), nullable=True),
    sa.Column('load_monitor', sa.String(length=16), nullable=True),
    sa.Column('timeout', sa.Float(), nullable=False),
    sa.Column('reentry', sa.Float(), nullable=False),
    sa.Column('quiesce_server', sa.Boolean(), nullable=False),
    sa.Column('client_monitor', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('virtual_server', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_virtual_server_position'), ['position'], unique=False)

    op.create_table('real_server',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('virtual_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('weight', sa.Integer(), nullable=False),
    sa.Column('port', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['virtual_id'], ['virtual_server.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('virtual_id', 'name', name='uq_real_server_virtual_name'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('real_server', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_real_server_virtual_id'), ['virtual_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('real_server', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_real_server_virtual_id'))

    op.drop_table('real_server')
    with op.batch_alter_table('virtual_server', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_virtual_server_position'))

    op.drop_table('virtual_server')
    op.drop_table('user')
    op.drop_table('revision')
    op.drop_table('global_settings')
    op.drop_table('failover_service')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entry_ts'))

    op.drop_table('audit_entry')
